"""HTTP routes of the simulated SGLang server (``entrypoints/http_server.py`` and ``openai/``)."""

from __future__ import annotations

import json
import os
import time
import uuid
from typing import Any

from .config import ResolvedConfig
from .engine import Engine
from .httpd import Request, Responder
from .logs import Log
from .metrics import Metrics
from .request import Req
from .sinks import ResponseSink

__all__ = ["App"]

FLUSH_TEXT = (b"Cache flushed.\nPlease check backend logs for more details. (When there are "
              b"running or waiting requests, the operation will not be performed.)\n")


def _err(message: str, status: int, kind: str = "BadRequestError") -> bytes:
    return json.dumps({"object": "error", "message": message, "type": kind, "param": None,
                       "code": status}).encode()


class App:
    """Routes requests; ``state`` is "starting", "warmup" or "ready"."""

    def __init__(self, cfg: ResolvedConfig, engine: Engine, log: Log, api_key: str | None,
                 enable_metrics: bool, cache_report: bool, server_args: dict[str, Any],
                 truth_path: str | None, sim_info: dict[str, Any]) -> None:
        self.cfg = cfg
        self.engine = engine
        self.log = log
        self.api_key = api_key
        self.enable_metrics = enable_metrics
        self.cache_report = cache_report
        self.server_args = server_args
        self.sim_info = sim_info
        self.state = "starting"
        self.log_requests = False
        self.metrics = Metrics(cfg.served_model_name)
        self.truth = open(truth_path, "a", encoding="utf-8", buffering=1) if truth_path else None
        self.loop_t0 = engine.loop.time()
        self.epoch_t0 = time.time()
        self.created = int(self.epoch_t0)
        engine.on_finish = self._finished

    def close(self) -> None:
        if self.truth is not None:
            self.truth.close()
            self.truth = None

    def epoch(self, t: float) -> float:
        return round(self.epoch_t0 + (t - self.loop_t0), 6)

    # -- dispatch -------------------------------------------------------------------------
    def handle(self, req: Request, resp: Responder) -> None:
        try:
            self._route(req, resp)
        except Exception as exc:  # a bug must not kill the server loop
            self.log.error(f"request {req.method} {req.path} failed: {exc!r}")
            resp.send(500, _err(f"internal error: {exc}", 500, "InternalServerError"))
        if resp.done and resp.status:
            self._access(req, resp.status)

    def _access(self, req: Request, status: int) -> None:
        from http import HTTPStatus
        phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else ""
        self.log.uvicorn(f'{req.peer} - "{req.method} {req.path} HTTP/1.1" {status} {phrase}')

    def _route(self, req: Request, resp: Responder) -> None:
        path, method = req.path.rstrip("/") or "/", req.method
        if path.startswith("/health"):
            status = 200 if self.state == "ready" else 503
            resp.send(status, b"", "text/plain; charset=utf-8")
            return
        if self.state == "starting":
            resp.send(503, _err("The server is starting.", 503, "ServiceUnavailableError"))
            return
        if self.api_key and not path.startswith("/metrics"):
            auth = req.headers.get("authorization", "")
            if auth != f"Bearer {self.api_key}":
                resp.send(401, b'{"error":"Unauthorized"}')
                return
        if method == "POST" and path in ("/v1/chat/completions", "/v1/completions", "/generate"):
            self._generate(req, resp, path)
        elif path == "/v1/models":
            self._json(resp, {"object": "list", "data": [{
                "id": self.cfg.served_model_name, "object": "model", "created": self.created,
                "owned_by": "sglang", "root": self.cfg.served_model_name,
                "max_model_len": self.cfg.context_len}]})
        elif path in ("/get_model_info", "/model_info"):
            self._json(resp, {
                "model_path": self.cfg.model_path,
                "tokenizer_path": self.server_args.get("tokenizer_path"),
                "is_generation": True, "preferred_sampling_params": None,
                "weight_version": "default", "has_image_understanding": False,
                "has_audio_understanding": False, "served_model_name": self.cfg.served_model_name,
                "model_type": "llama", "architectures": [self.cfg.model.architecture]})
        elif path in ("/get_server_info", "/server_info"):
            self._json(resp, self.server_info())
        elif path == "/get_load":
            self._json(resp, [{"dp_rank": r.rank, "num_reqs": len(r.sched.running),
                               "num_waiting_reqs": len(r.sched.waiting) + len(r.inbox),
                               "num_tokens": r.sched.used_tokens()}
                              for r in self.engine.replicas])
        elif path == "/flush_cache" and method in ("GET", "POST"):
            ok = not self.engine.busy and all(r.sched.flush_cache() for r in self.engine.replicas)
            resp.send(200 if ok else 400, FLUSH_TEXT, "text/plain; charset=utf-8")
            self.log.info("Cache flushed successfully!" if ok else
                          "Cache not flushed because there are pending requests. "
                          f"#queue-req: {self._queued()}, #running-req: {self._running()}",
                          "TP0")
        elif path == "/metrics" and self.enable_metrics:
            resp.send(200, self.metrics.render(self.gauges()).encode(),
                      "text/plain; version=0.0.4; charset=utf-8")
        else:
            resp.send(404, b'{"detail":"Not Found"}')

    def _json(self, resp: Responder, obj: Any) -> None:
        resp.send(200, json.dumps(obj).encode())

    # -- state ----------------------------------------------------------------------------
    def _running(self) -> int:
        return sum(len(r.sched.running) + (r.sched.chunked is not None)
                   for r in self.engine.replicas)

    def _queued(self) -> int:
        return sum(len(r.sched.waiting) + len(r.inbox) for r in self.engine.replicas)

    def gauges(self) -> dict[str, float]:
        reps = self.engine.replicas
        pool = sum(r.sched.pool for r in reps) or 1
        used = sum(r.sched.used_tokens() for r in reps)
        prompt = sum(r.sched.stats.prompt_tokens for r in reps)
        cached = sum(r.sched.stats.cached_tokens for r in reps)
        return {"num_running_reqs": self._running(), "num_queue_reqs": self._queued(),
                "num_used_tokens": used, "token_usage": round(used / pool, 4),
                "gen_throughput": sum(r.gen_throughput for r in reps),
                "cache_hit_rate": round(cached / prompt, 4) if prompt else 0.0,
                "num_retracted_reqs": sum(r.sched.stats.retracted for r in reps)}

    def server_info(self) -> dict[str, Any]:
        cfg = self.cfg
        info = dict(self.server_args)
        info.update({
            "mem_fraction_static": cfg.mem_fraction_static,
            "chunked_prefill_size": cfg.chunked_prefill_size,
            "max_prefill_tokens": cfg.max_prefill_tokens,
            "cuda_graph_max_bs": cfg.cuda_graph_max_bs, "cuda_graph_bs": cfg.capture_bs,
            "max_running_requests": cfg.max_running_requests,
            "schedule_policy": cfg.schedule_policy, "tp_size": cfg.tp, "dp_size": cfg.dp,
            "attention_backend": cfg.attention_backend,
            "sampling_backend": cfg.sampling_backend, "page_size": cfg.page_size,
            "context_length": cfg.context_len, "served_model_name": cfg.served_model_name,
            "max_total_num_tokens": cfg.max_total_num_tokens,
            "max_req_input_len": cfg.max_req_input_len,
            "status": "ready" if self.state == "ready" else "starting",
            "version": "0.5.5.post3-sim",
        })
        gib = 1024**3
        info["internal_states"] = [{
            "dp_rank": r.rank, "last_gen_throughput": r.gen_throughput,
            "memory_usage": {"weight": round(cfg.weights_per_gpu_bytes / gib, 2),
                             "kvcache": round(cfg.max_total_num_tokens * cfg.kv_cell_bytes / gib,
                                              2),
                             "token_capacity": cfg.max_total_num_tokens,
                             "graph": round(cfg.graph_bytes / gib, 2)}}
            for r in self.engine.replicas]
        eng = self.engine
        info["sim"] = {**self.sim_info, "engine": {
            "max_lag_s": round(eng.max_lag, 6), "resyncs": eng.resyncs,
            "coalesce_s": eng.coalesce_box[0]}}
        return info

    # -- generation -----------------------------------------------------------------------
    def _generate(self, req: Request, resp: Responder, path: str) -> None:
        now = self.engine.loop.time()
        try:
            body = json.loads(req.body or b"{}")
            if not isinstance(body, dict):
                raise ValueError("body must be a JSON object")
        except ValueError as exc:
            resp.send(400, _err(f"Invalid JSON: {exc}", 400))
            return
        endpoint = {"/v1/chat/completions": "chat", "/v1/completions": "completion"}.get(
            path, "generate")
        params = body.get("sampling_params") if endpoint == "generate" else body
        params = params if isinstance(params, dict) else {}
        if endpoint == "chat":
            messages = body.get("messages")
            if not isinstance(messages, list) or not messages:
                resp.send(400, _err("messages must be a non-empty list", 400))
                return
            text = self.engine.tokenizer.render_chat(m for m in messages if isinstance(m, dict))
            max_new = body.get("max_completion_tokens") or body.get("max_tokens")
        else:
            raw = body.get("prompt") if endpoint == "completion" else body.get("text")
            if isinstance(raw, list):
                raw = raw[0] if raw and isinstance(raw[0], str) else None
            if not isinstance(raw, str):
                resp.send(400, _err("prompt must be a string", 400))
                return
            text = raw
            max_new = body.get("max_tokens") if endpoint == "completion" else (
                params.get("max_new_tokens", 128))
        prompt = self.engine.tokenizer.encode(text)
        n_in = len(prompt)
        cfg = self.cfg
        if n_in >= cfg.max_req_input_len:
            resp.send(400, _err(f"The input ({n_in} tokens) is longer than the model's context "
                                f"length ({cfg.context_len} tokens).", 400))
            return
        if max_new is None:
            max_new = cfg.context_len - n_in
        if not isinstance(max_new, int) or max_new < 0:
            resp.send(400, _err("max_tokens must be a non-negative integer", 400))
            return
        if n_in + max_new > cfg.context_len:
            resp.send(400, _err(
                f"Requested token count exceeds the model's maximum context length of "
                f"{cfg.context_len} tokens. You requested a total of {n_in + max_new} tokens: "
                f"{n_in} tokens from the input messages and {max_new} tokens for the completion. "
                "Please reduce the number of tokens in the input messages or the completion to "
                "fit within the limit.", 400))
            return
        limit = cfg.max_queued_requests
        if limit is not None and self._queued() >= limit:
            resp.send(503, _err("The request queue is full.", 503, "ServiceUnavailableError"))
            return
        stream = bool(body.get("stream", False))
        opts = body.get("stream_options")
        include_usage = isinstance(opts, dict) and bool(opts.get("include_usage"))
        ignore_eos = bool(params.get("ignore_eos", False))
        rid_raw, model_raw = body.get("rid"), body.get("model")
        rid = rid_raw if isinstance(rid_raw, str) else uuid.uuid4().hex
        model = model_raw if isinstance(model_raw, str) else cfg.served_model_name
        sink = ResponseSink(resp, endpoint, stream, model, int(time.time()), rid, n_in,
                            include_usage, cfg.stream_interval, self.engine.coalesce_box,
                            self.cache_report, now, self.engine.tokenizer.decode)
        if stream:
            resp.start_stream()
        priority = body.get("priority")
        request = self.engine.submit(prompt, max(max_new, 1), ignore_eos, sink,
                                     priority if isinstance(priority, int) else 0, received=now)
        resp.on_close = lambda: self._aborted(request)
        if self.log_requests:
            self.log.info(f"Receive: obj=GenerateReqInput(rid='{rid}', input_tokens={n_in}, "
                          f"sampling_params={{'max_new_tokens': {max_new}, 'ignore_eos': "
                          f"{ignore_eos}}}, stream={stream})")

    def _aborted(self, request: Req) -> None:
        self.metrics.aborted += 1
        self.engine.abort(request)

    def _finished(self, req: Req, due: float, now: float) -> None:
        sink = req.sink
        if not isinstance(sink, ResponseSink):
            return
        ttft = sink.first_due - sink.http_time
        e2e = sink.last_due - sink.http_time
        queue = (req.admit_time - req.arrival) if req.admit_time >= 0 else 0.0
        self.metrics.finish(len(req.prompt), req.out, max(req.cached_tokens, 0), ttft, e2e, queue)
        if self.log_requests:
            self.log.info(f"Finish: obj=GenerateReqInput(rid='{sink.id}'), out={{'meta_info': "
                          f"{{'prompt_tokens': {len(req.prompt)}, 'completion_tokens': {req.out}"
                          f", 'cached_tokens': {max(req.cached_tokens, 0)}, 'e2e_latency': "
                          f"{e2e:.4f}}}}}")
        if self.truth is None:
            return
        rec = {
            "rid": sink.id, "dp_rank": req.dp_rank, "endpoint": sink.endpoint,
            "stream": sink.stream, "arrival": self.epoch(sink.http_time),
            "scheduler_arrival": self.epoch(req.arrival),
            "admitted": self.epoch(req.admit_time) if req.admit_time >= 0 else None,
            "first_token": self.epoch(sink.first_due), "last_token": self.epoch(sink.last_due),
            "first_token_sent": self.epoch(sink.first_sent),
            "last_token_sent": self.epoch(sink.last_sent),
            "ttft": round(ttft, 6), "e2e": round(e2e, 6),
            "tpot": round((e2e - ttft) / (req.out - 1), 6) if req.out > 1 else None,
            "queue_time": round(queue, 6), "input_tokens": len(req.prompt),
            "output_tokens": req.out, "cached_tokens": max(req.cached_tokens, 0),
            "prefix_hit": req.cached_tokens > 0, "retractions": req.retractions,
            "finish_reason": "length" if req.out >= req.max_new else "stop",
            "pid": os.getpid(),
        }
        self.truth.write(json.dumps(rec) + "\n")
