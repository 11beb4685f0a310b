"""A small HTTP/1.1 server on asyncio protocols: keep-alive, Content-Length bodies, chunked replies.

One request at a time per connection (no pipelining); bytes that arrive while a response is in
progress are parsed once it ends. Streaming replies use ``Transfer-Encoding: chunked``, which
genai-bench needs to see tokens as they come (``tech-facts.md`` A3).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from http import HTTPStatus

__all__ = ["Handler", "HttpProtocol", "Request", "Responder"]

MAX_HEADER = 64 * 1024
MAX_BODY = 64 * 1024 * 1024


@dataclass(slots=True)
class Request:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    peer: str = ""
    keep_alive: bool = True
    meta: dict[str, object] = field(default_factory=dict)


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


class Responder:
    """Writes one response; ``closed`` turns true when the client goes away."""

    __slots__ = ("_proto", "closed", "done", "keep_alive", "on_close", "status", "streaming")

    def __init__(self, proto: HttpProtocol, keep_alive: bool) -> None:
        self._proto = proto
        self.keep_alive = keep_alive
        self.closed = False
        self.done = False
        self.streaming = False
        self.status = 0
        self.on_close: Callable[[], None] | None = None

    def _head(self, status: int, content_type: str, extra: str) -> bytes:
        conn = "" if self.keep_alive else "connection: close\r\n"
        return (f"HTTP/1.1 {status} {_reason(status)}\r\ndate: {formatdate(usegmt=True)}\r\n"
                f"server: uvicorn\r\ncontent-type: {content_type}\r\n{extra}{conn}\r\n"
                ).encode("latin-1")

    def send(self, status: int, body: bytes, content_type: str = "application/json",
             headers: str = "") -> None:
        if self.done or self.closed:
            return
        self.status = status
        self._proto.write(self._head(status, content_type,
                                     f"content-length: {len(body)}\r\n{headers}") + body)
        self._finish()

    def start_stream(self, status: int = 200,
                     content_type: str = "text/event-stream; charset=utf-8") -> None:
        self.status = status
        self.streaming = True
        if not self.closed:
            extra = "transfer-encoding: chunked\r\ncache-control: no-cache\r\n"
            self._proto.write(self._head(status, content_type, extra))

    def chunk(self, data: bytes) -> None:
        if data and not self.closed and not self.done:
            self._proto.write(b"%x\r\n%b\r\n" % (len(data), data))

    def end_stream(self, last: bytes = b"") -> None:
        if self.done:
            return
        if not self.closed:
            if last:
                self._proto.write(b"%x\r\n%b\r\n0\r\n\r\n" % (len(last), last))
            else:
                self._proto.write(b"0\r\n\r\n")
        self._finish()

    def _finish(self) -> None:
        self.done = True
        self._proto.response_done(self)


Handler = Callable[[Request, Responder], Awaitable[None] | None]


class HttpProtocol(asyncio.Protocol):
    def __init__(self, handler: Handler, connections: set[HttpProtocol]) -> None:
        self.handler = handler
        self.connections = connections
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.current: Responder | None = None
        self.peer = ""
        self.tasks: set[asyncio.Task[None]] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.connections.add(self)
        peer = transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else ""

    def connection_lost(self, exc: Exception | None) -> None:
        self.connections.discard(self)
        self.transport = None
        cur = self.current
        if cur is not None and not cur.done:
            cur.closed = True
            if cur.on_close is not None:
                cur.on_close()

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if len(self.buf) > MAX_BODY + MAX_HEADER:
            self.close()
            return
        if self.current is None:
            self._parse()

    def response_done(self, resp: Responder) -> None:
        if resp is not self.current:
            return
        self.current = None
        if not resp.keep_alive:
            if self.transport is not None:
                self.transport.close()
            return
        if self.buf:
            asyncio.get_running_loop().call_soon(self._parse)

    def _bad(self, status: int, text: str) -> None:
        resp = Responder(self, keep_alive=False)
        self.current = resp
        resp.send(status, text.encode(), "text/plain; charset=utf-8")

    def _parse(self) -> None:
        if self.current is not None or self.transport is None:
            return
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            if len(self.buf) > MAX_HEADER:
                self._bad(431, "Request Header Fields Too Large")
            return
        try:
            head = bytes(self.buf[:end]).decode("latin-1")
            lines = head.split("\r\n")
            method, target, version = lines[0].split(" ", 2)
            headers: dict[str, str] = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length", "0") or 0)
        except ValueError:
            self._bad(400, "Bad Request")
            return
        if "chunked" in headers.get("transfer-encoding", "").lower():
            self._bad(411, "Length Required")
            return
        if length > MAX_BODY:
            self._bad(413, "Payload Too Large")
            return
        total = end + 4 + length
        if len(self.buf) < total:
            return
        body = bytes(self.buf[end + 4:total])
        del self.buf[:total]
        path, _, query = target.partition("?")
        conn = headers.get("connection", "").lower()
        keep = conn != "close" and (version != "HTTP/1.0" or conn == "keep-alive")
        req = Request(method.upper(), path, query, headers, body, self.peer, keep)
        resp = Responder(self, keep)
        self.current = resp
        result = self.handler(req, resp)
        if result is not None:
            task = asyncio.ensure_future(result)
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
