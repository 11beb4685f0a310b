"""Deliver a request's tokens to its HTTP response, in SGLang's OpenAI wire format.

Streaming chat (``serving_chat.py``): a role chunk with ``content: ""`` together with the first
content, content chunks, a chunk with ``finish_reason``, a usage chunk with ``choices: []`` when
``stream_options.include_usage`` is set, then ``data: [DONE]``. Plain completions have no role
chunk. Non-streaming replies are sent whole when the last token is due.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from .httpd import Responder
from .request import Req

__all__ = ["ResponseSink"]


class ResponseSink:
    """One request's delivery state: what was written, and when (for the ground truth)."""

    __slots__ = (
        "_pre",
        "_suf",
        "cache_report",
        "coalesce",
        "created",
        "decode",
        "endpoint",
        "first_due",
        "first_sent",
        "http_time",
        "id",
        "include_usage",
        "interval",
        "last_due",
        "last_sent",
        "last_write",
        "model",
        "prompt_tokens",
        "resp",
        "sent",
        "stream",
    )

    def __init__(self, resp: Responder, endpoint: str, stream: bool, model: str, created: int,
                 rid: str, prompt_tokens: int, include_usage: bool, interval: int,
                 coalesce: list[float], cache_report: bool, http_time: float,
                 decode: Callable[[str], bytes]) -> None:
        self.resp = resp
        self.decode = decode  # tokens -> UTF-8 text; generated tokens are JSON-safe ASCII
        self.endpoint = endpoint  # "chat" | "completion" | "generate"
        self.stream = stream
        self.model = model
        self.created = created
        self.id = rid
        self.prompt_tokens = prompt_tokens
        self.include_usage = include_usage
        self.interval = max(1, interval)
        self.coalesce = coalesce  # shared, mutable: [seconds]
        self.cache_report = cache_report
        self.http_time = http_time
        self.sent = 0
        self.last_write = 0.0
        self.first_due = self.first_sent = self.last_due = self.last_sent = -1.0
        head = (f'{{"id":"{rid}","object":"%s","created":{created},'
                f'"model":{json.dumps(model)},"choices":[{{"index":0,')
        if endpoint == "chat":
            self._pre = (head % "chat.completion.chunk").encode() + b'"delta":{"role":null,' \
                b'"content":"'
            self._suf = (b'","reasoning_content":null,"tool_calls":null},"logprobs":null,'
                         b'"finish_reason":null,"matched_stop":null}],"usage":null}\n\n')
        else:
            self._pre = (head % "text_completion").encode() + b'"text":"'
            self._suf = b'","logprobs":null,"finish_reason":null,"matched_stop":null}],' \
                b'"usage":null}\n\n'

    # -- wire pieces ----------------------------------------------------------------------
    def _content(self, text: bytes) -> bytes:
        return b"data: " + self._pre + text + self._suf

    def _event(self, obj: dict[str, Any]) -> bytes:
        return b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"

    def _usage(self, req: Req, count: int) -> dict[str, Any]:
        usage: dict[str, Any] = {"prompt_tokens": self.prompt_tokens,
                                 "total_tokens": self.prompt_tokens + count,
                                 "completion_tokens": count, "prompt_tokens_details": None}
        if self.cache_report:
            usage["prompt_tokens_details"] = {"cached_tokens": max(req.cached_tokens, 0)}
        return usage

    def _finish_reason(self, req: Req, count: int) -> str:
        return "length" if count >= req.max_new else "stop"

    def _object(self, chunk: bool) -> str:
        if self.endpoint == "chat":
            return "chat.completion.chunk" if chunk else "chat.completion"
        return "text_completion"

    # -- delivery -------------------------------------------------------------------------
    def deliver(self, req: Req, count: int, final: bool, due: float, now: float) -> None:
        if self.first_due < 0:
            self.first_due, self.first_sent = due, now
        if final:
            self.last_due, self.last_sent = due, now
        if not self.stream:
            if final:
                self._send_whole(req, count)
            return
        if self.endpoint == "generate":
            self._deliver_generate(req, count, final, now)
            return
        first = self.sent == 0
        if not (first or final):
            if count - self.sent < self.interval or now - self.last_write < self.coalesce[0]:
                return
        out = bytearray()
        if first and self.endpoint == "chat":
            out += self._event({
                "id": self.id, "object": "chat.completion.chunk", "created": self.created,
                "model": self.model,
                "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                             "logprobs": None, "finish_reason": None, "matched_stop": None}],
                "usage": None})
        if count > self.sent:
            out += self._content(self.decode(req.output[self.sent:count]))
            self.sent = count
        self.last_write = now
        if not final:
            self.resp.chunk(bytes(out))
            return
        delta: dict[str, Any] = {"index": 0, "logprobs": None,
                                 "finish_reason": self._finish_reason(req, count),
                                 "matched_stop": None if count >= req.max_new else 128009}
        if self.endpoint == "chat":
            delta["delta"] = {"role": None, "content": None, "reasoning_content": None,
                              "tool_calls": None}
        else:
            delta["text"] = ""
        out += self._event({"id": self.id, "object": self._object(True), "created": self.created,
                            "model": self.model, "choices": [delta], "usage": None})
        if self.include_usage:
            out += self._event({"id": self.id, "object": self._object(True),
                                "created": self.created, "model": self.model, "choices": [],
                                "usage": self._usage(req, count)})
        out += b"data: [DONE]\n\n"
        self.resp.end_stream(bytes(out))

    def _meta(self, req: Req, count: int, now: float) -> dict[str, Any]:
        reason = self._finish_reason(req, count)
        return {"id": self.id, "finish_reason": {"type": reason, "length": count}
                if reason == "length" else {"type": "stop", "matched": 128009},
                "prompt_tokens": self.prompt_tokens, "completion_tokens": count,
                "cached_tokens": max(req.cached_tokens, 0),
                "e2e_latency": round(now - self.http_time, 6)}

    def _deliver_generate(self, req: Req, count: int, final: bool, now: float) -> None:
        if not (final or self.sent == 0) and (count - self.sent < self.interval
                                              or now - self.last_write < self.coalesce[0]):
            return
        self.sent = count
        self.last_write = now
        text = self.decode(req.output[:count]).decode("ascii")
        meta = self._meta(req, count, now)
        if not final:
            meta["finish_reason"] = None
        body = self._event({"text": text, "output_ids": [], "meta_info": meta, "index": 0})
        if final:
            self.resp.end_stream(body + b"data: [DONE]\n\n")
        else:
            self.resp.chunk(body)

    def _send_whole(self, req: Req, count: int) -> None:
        text = self.decode(req.output[:count]).decode("ascii")
        reason = self._finish_reason(req, count)
        matched = None if reason == "length" else 128009
        if self.endpoint == "generate":
            body: dict[str, Any] = {"text": text, "output_ids": [],
                                    "meta_info": self._meta(req, count, self.last_sent)}
        elif self.endpoint == "chat":
            body = {"id": self.id, "object": "chat.completion", "created": self.created,
                    "model": self.model,
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": text,
                                                         "reasoning_content": None,
                                                         "tool_calls": None},
                                 "logprobs": None, "finish_reason": reason,
                                 "matched_stop": matched}],
                    "usage": self._usage(req, count)}
        else:
            body = {"id": self.id, "object": "text_completion", "created": self.created,
                    "model": self.model,
                    "choices": [{"index": 0, "text": text, "logprobs": None,
                                 "finish_reason": reason, "matched_stop": matched}],
                    "usage": self._usage(req, count)}
        self.resp.send(200, json.dumps(body, separators=(",", ":")).encode())
