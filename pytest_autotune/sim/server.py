"""``python -m pytest_autotune.sim``: start-up, failures and shutdown of the simulated server.

Start-up replays SGLang's phases with their log lines (distributed init, weight loading, KV pool,
CUDA-graph capture, scheduler summary, HTTP server, warm-up request) and the failures SGLang hits
in them. By default the HTTP port is bound first and answers 503 until the warm-up request has
run, so a readiness probe sees the server "starting"; ``--sim-late-bind`` binds only after graph
capture, as SGLang itself does (connections are refused while it loads).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import signal
import sys
from typing import Any

from .api import App
from .catalog import GiB
from .cli import parse_args, unmodelled_flags
from .config import ResolvedConfig, resolve
from .engine import Engine, Replica
from .httpd import HttpProtocol
from .logs import Log
from .scheduler import StepResult
from .tokens import for_model

__all__ = ["main"]

BANNER = ("pytest-autotune SGLang simulator -- this is NOT SGLang: no model runs and every "
          "timing is modelled")


class StartupError(Exception):
    """Raised to stop start-up with SGLang's failure lines already logged."""


def _server_args(args: argparse.Namespace, cfg: ResolvedConfig) -> dict[str, Any]:
    out = {k: v for k, v in vars(args).items() if not k.startswith(("ignored_", "sim_"))}
    out.update(mem_fraction_static=cfg.mem_fraction_static, tp_size=cfg.tp, dp_size=cfg.dp,
               chunked_prefill_size=cfg.chunked_prefill_size,
               cuda_graph_max_bs=cfg.cuda_graph_max_bs, attention_backend=cfg.attention_backend,
               sampling_backend=cfg.sampling_backend, page_size=cfg.page_size,
               served_model_name=cfg.served_model_name,
               tokenizer_path=args.tokenizer_path or args.model_path,
               max_running_requests=args.max_running_requests)
    out.pop("api_key", None)
    return out


class Server:
    def __init__(self, args: argparse.Namespace, cfg: ResolvedConfig, log: Log) -> None:
        self.args = args
        self.cfg = cfg
        self.log = log
        self.stop = asyncio.Event()
        self.server: asyncio.base_events.Server | None = None
        self.connections: set[HttpProtocol] = set()
        self.tokenizer = for_model(args.tokenizer_path, args.model_path, cfg.model.name)
        self.engine = Engine(cfg, args.sim_seed, args.sim_noise, tokenizer=self.tokenizer)
        sim_info = {"simulator": True, "gpu": cfg.gpu.name, "gpu_key": cfg.gpu_key,
                    "model": cfg.model.name, "params": cfg.model.params,
                    "gpus_available": args.sim_gpus_available, "noise": args.sim_noise,
                    "seed": args.sim_seed, "startup_scale": args.sim_startup_scale,
                    "slowdown": args.sim_slowdown, "tokenizer": self.tokenizer.name}
        self.app = App(cfg, self.engine, log, args.api_key, args.enable_metrics,
                       args.enable_cache_report, _server_args(args, cfg), args.sim_truth_log,
                       sim_info)
        self.app.log_requests = bool(args.log_requests)
        self.engine.prefill_logger = self._log_prefill
        self.engine.decode_logger = self._log_decode

    def prefix(self, rank: int = 0) -> str:
        return f"DP{rank} TP0" if self.cfg.dp > 1 else "TP0"

    # -- phases ---------------------------------------------------------------------------
    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            return
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.stop.wait(), seconds)
        if self.stop.is_set():
            raise asyncio.CancelledError

    def fail(self, phase: str) -> None:
        failure = self.cfg.failure
        if failure is None or failure.phase != phase:
            return
        lines = ["Scheduler hit an exception: Traceback (most recent call last):",
                 '  File "/sgl-workspace/sglang/python/sglang/srt/managers/scheduler.py", '
                 "line 2871, in run_scheduler_process",
                 "    scheduler = Scheduler(server_args, port_args, gpu_id, tp_rank, moe_ep_rank, "
                 "pp_rank, dp_rank)", *failure.exception]
        self.log.error("\n".join(lines), self.prefix())
        self.log.error("Received sigquit from a child process. It usually means the child "
                       "failed.")
        raise StartupError(failure.kind)

    async def bind(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            self.server = await loop.create_server(
                lambda: HttpProtocol(self.app.handle, self.connections),
                self.args.host, self.args.port, reuse_address=True, backlog=1024)
        except OSError as exc:
            self.log.error(f"[Errno {exc.errno}] error while attempting to bind on address "
                           f"('{self.args.host}', {self.args.port}): {exc.strerror}")
            raise StartupError("bind") from exc

    async def startup(self) -> None:
        cfg, log, p = self.cfg, self.log, self.prefix()
        gib = GiB
        if not self.args.sim_late_bind:
            await self.bind()
        args_text = ", ".join(f"{k}={v!r}" for k, v in _server_args(self.args, cfg).items())
        log.info(f"server_args=ServerArgs({args_text})")
        for note in cfg.notes:
            log.warning(note)
        unmodelled = unmodelled_flags(self.args)
        if unmodelled:
            log.warning("accepted but not modelled by the simulator (no effect on its numbers): "
                        + ", ".join(unmodelled))
        log.info(f"simulator tokenizer {self.tokenizer.name}: {self.tokenizer.note}")
        if self.args.attention_backend is None:
            log.info(f"Attention backend not explicitly specified. Use {cfg.attention_backend} "
                     "backend by default.", p)
        log.info("Init torch distributed begin.", p)
        await self.sleep(cfg.init_s)
        self.fail("init")
        log.info("Init torch distributed ends. mem usage=0.00 GB", p)
        free = cfg.free_init_bytes / gib
        log.info(f"Load weight begin. avail mem={free:.2f} GB", p)
        await self.sleep(cfg.load_s * 0.05)
        self.fail("load")
        shards = max(1, math.ceil(cfg.model.weight_bytes / 5e9))
        for i in range(1, shards + 1):
            await self.sleep(cfg.load_s * 0.95 / shards)
            log.raw(f"Loading safetensors checkpoint shards: {100 * i // shards:3d}% Completed "
                    f"| {i}/{shards}")
        w = cfg.weights_per_gpu_bytes / gib
        log.info(f"Load weight end. type={cfg.model.architecture}, dtype=torch.bfloat16, "
                 f"avail mem={free - w:.2f} GB, mem usage={w:.2f} GB.", p)
        self.fail("kv")
        kv = cfg.max_total_num_tokens * cfg.kv_cell_bytes / gib
        log.info(f"KV Cache is allocated. #tokens: {cfg.max_total_num_tokens}, K size: "
                 f"{kv / 2:.2f} GB, V size: {kv / 2:.2f} GB", p)
        head = cfg.headroom_bytes / gib
        log.info(f"Memory pool end. avail mem={head:.2f} GB", p)
        if cfg.capture_bs:
            log.info("Capture cuda graph begin. This can take up to several minutes. "
                     f"avail mem={head:.2f} GB", p)
            log.info(f"Capture cuda graph bs {cfg.capture_bs}", p)
            await self.sleep(cfg.compile_s)
            sizes = list(reversed(cfg.capture_bs))
            step = max(1, len(sizes) // 4)
            for i, bs in enumerate(sizes, 1):
                await self.sleep(cfg.capture_s_per_size)
                self.fail("capture")
                if i % step == 0 or i == len(sizes):
                    log.raw(f"Capturing batches (bs={bs} avail_mem={head:.2f} GB): "
                            f"{100 * i // len(sizes):3d}%| {i}/{len(sizes)}")
            log.info(f"Capture cuda graph end. Time elapsed: {cfg.capture_s:.2f} s. mem usage="
                     f"{cfg.graph_bytes / gib:.2f} GB. avail mem="
                     f"{cfg.available_after_bytes / gib:.2f} GB.", p)
        for rank in range(cfg.dp):
            log.info(
                f"max_total_num_tokens={cfg.max_total_num_tokens}, chunked_prefill_size="
                f"{cfg.chunked_prefill_size}, max_prefill_tokens={cfg.max_prefill_tokens}, "
                f"max_running_requests={cfg.max_running_requests}, context_len="
                f"{cfg.context_len}, available_gpu_mem={cfg.available_after_bytes / gib:.2f} GB",
                self.prefix(rank))
        self.engine.start()
        if self.args.sim_late_bind:
            await self.bind()
        log.uvicorn(f"Started server process [{os.getpid()}]")
        log.uvicorn("Waiting for application startup.")
        log.uvicorn("Application startup complete.")
        log.uvicorn(f"Uvicorn running on http://{self.args.host}:{self.args.port} "
                    "(Press CTRL+C to quit)")
        self.app.state = "warmup"
        if not self.args.skip_server_warmup:
            log.uvicorn('127.0.0.1:0 - "GET /get_model_info HTTP/1.1" 200 OK')
            await self.sleep(cfg.warmup_s)
            self.fail("warmup")
            warm = asyncio.ensure_future(self.engine.generate_once(
                self.tokenizer.encode("The capital city of France is"), 8))
            stopper = asyncio.ensure_future(self.stop.wait())
            await asyncio.wait({warm, stopper}, return_when=asyncio.FIRST_COMPLETED)
            stopper.cancel()
            if self.stop.is_set():
                warm.cancel()
                raise asyncio.CancelledError
            log.uvicorn('127.0.0.1:0 - "POST /generate HTTP/1.1" 200 OK')
        self.app.state = "ready"
        log.info("The server is fired up and ready to roll!")

    # -- runtime logs ---------------------------------------------------------------------
    def _log_prefill(self, rep: Replica, res: StepResult) -> None:
        s = rep.sched
        usage = s.used_tokens() / max(s.pool, 1)
        self.log.info(f"Prefill batch. #new-seq: {res.new_seqs}, #new-token: {res.new_tokens}, "
                      f"#cached-token: {res.cached_tokens}, token usage: {usage:.2f}, "
                      f"#running-req: {len(s.running) - res.new_seqs}, "
                      f"#queue-req: {len(s.waiting)}, ",
                      self.prefix(rep.rank))

    def _log_decode(self, rep: Replica, res: StepResult) -> None:
        s = rep.sched
        gen = s.stats.generation_tokens
        now = res.end
        if rep.last_log_t and now > rep.last_log_t:
            rep.gen_throughput = (gen - rep.last_log_tokens) / (now - rep.last_log_t)
        rep.last_log_t, rep.last_log_tokens = now, gen
        usage = s.used_tokens() / max(s.pool, 1)
        self.log.info(f"Decode batch. #running-req: {len(s.running)}, #token: {s.used_tokens()}, "
                      f"token usage: {usage:.2f}, cuda graph: {res.graph}, gen throughput "
                      f"(token/s): {rep.gen_throughput:.2f}, #queue-req: {len(s.waiting)}, ",
                      self.prefix(rep.rank))

    # -- lifecycle ------------------------------------------------------------------------
    async def shutdown(self) -> None:
        self.app.state = "starting"
        if self.server is not None:
            self.server.close()
        for conn in list(self.connections):
            conn.close()
        await self.engine.stop()
        if self.server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.server.wait_closed(), 1.0)
        self.app.close()

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self.stop.set)
        code = 0
        try:
            await self.startup()
            await self.stop.wait()
        except asyncio.CancelledError:
            code = 0
        except StartupError:
            code = 1
        finally:
            await self.shutdown()
        return code


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    log = Log(args.log_level)
    log.raw(f"[{log._ts()}] {BANNER}")
    try:
        cfg = resolve(args)
    except ValueError as exc:
        log.raw(f"{BANNER}\nerror: {exc}")
        return 2
    log.raw(f"[{log._ts()}] simulating {cfg.model.name} ({cfg.model.params / 1e9:.2f}B params) "
            f"on {cfg.gpus}x {cfg.gpu.name} ({cfg.gpu.memory_gb:.0f} GB), "
            f"{args.sim_gpus_available} GPUs visible, noise={args.sim_noise}, "
            f"seed={args.sim_seed}, startup-scale={args.sim_startup_scale}"
            + (f", slowdown={args.sim_slowdown}" if args.sim_slowdown != 1.0 else ""))

    async def _serve() -> int:
        return await Server(args, cfg, log).run()

    try:
        code = asyncio.run(_serve())
    except KeyboardInterrupt:
        code = 0
    # A second SIGTERM/SIGINT while the interpreter exits must not print a traceback.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    return code


if __name__ == "__main__":
    sys.exit(main())
