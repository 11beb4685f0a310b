"""Streaming without sockets: SSE wire format, coalescing when the loop is late, engine lag."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from pytest_autotune.sim.cli import parse_args
from pytest_autotune.sim.config import resolve
from pytest_autotune.sim.engine import Engine
from pytest_autotune.sim.request import Req
from pytest_autotune.sim.sinks import ResponseSink
from pytest_autotune.sim.tokens import Tokenizer, for_model


class FakeResponder:
    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.ended = False

    def chunk(self, data: bytes) -> None:
        self.chunks.append(data)

    def end_stream(self, last: bytes = b"") -> None:
        self.chunks.append(last)
        self.ended = True

    def send(self, status: int, body: bytes, *args: Any) -> None:
        self.chunks.append(body)
        self.ended = True


def events(resp: FakeResponder) -> list[Any]:
    out: list[Any] = []
    for blob in resp.chunks:
        for part in blob.split(b"\n\n"):
            if part:
                assert part.startswith(b"data: ")
                out.append("[DONE]" if part == b"data: [DONE]" else json.loads(part[6:]))
    return out


BYTES = Tokenizer()


def output_text(rid: int, n: int, tok: Tokenizer = BYTES) -> str:
    return tok.decode(tok.output(rid, n)).decode()


def run(coalesce: float, n: int = 10, endpoint: str = "chat", interval: int = 1,
        tok: Tokenizer = BYTES) -> tuple[FakeResponder, list[Any]]:
    resp = FakeResponder()
    sink = ResponseSink(resp, endpoint, True, "m", 0, "rid", 7, True, interval,  # type: ignore[arg-type]
                        [coalesce], False, 0.0, tok.decode)
    req = Req(1, "x" * 7, n, n, tok.output(1, n), 0.0)
    for count in range(1, n + 1):
        sink.deliver(req, count, count == n, due=count * 0.01, now=count * 0.01)
    return resp, events(resp)


def test_chat_stream_shape() -> None:
    resp, evs = run(0.0)
    assert resp.ended and evs[-1] == "[DONE]"
    assert evs[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    contents = [e["choices"][0]["delta"]["content"] for e in evs[1:-3]]
    assert len(contents) == 10 and "".join(contents) == output_text(1, 10)
    assert evs[-3]["choices"][0]["finish_reason"] == "length"
    assert evs[-2]["choices"] == [] and evs[-2]["usage"]["completion_tokens"] == 10
    assert evs[-2]["usage"]["prompt_tokens"] == 7 and evs[-2]["usage"]["total_tokens"] == 17


def test_coalescing_keeps_first_and_last_and_all_text() -> None:
    _, evs = run(1.0)
    contents = [e["choices"][0]["delta"]["content"] for e in evs[1:-3]]
    assert contents == [output_text(1, 1), output_text(1, 10)[1:]]


def test_stream_interval_and_completions() -> None:
    _, evs = run(0.0, n=10, endpoint="completion", interval=4)
    texts = [e["choices"][0]["text"] for e in evs[:-3]]
    assert [len(t) for t in texts] == [1, 4, 4, 1]  # first token, every 4, then the rest
    assert "delta" not in evs[0]["choices"][0]


def test_engine_coalesces_when_late_and_recovers() -> None:
    async def go() -> list[float]:
        engine = Engine(resolve(parse_args(["--model-path", "llama-3.1-8b"])), 0, 0.0)
        seen = []
        engine.observe_lag(0.010)
        seen.append(engine.coalesce_box[0])
        engine.observe_lag(0.010)
        seen.append(engine.coalesce_box[0])
        for _ in range(20):
            engine.observe_lag(0.0001)
        seen.append(engine.coalesce_box[0])
        return seen

    late1, late2, recovered = asyncio.run(go())
    assert 0 < late1 < late2 <= 0.05 and recovered == 0.0


def test_a_model_vocabulary_streams_one_word_per_token() -> None:
    """With Llama-3's vocabulary each generated token is a whole word (" fox"), and the text
    encodes back to exactly the tokens that were counted."""
    tok = for_model("meta-llama/Llama-3.1-8B-Instruct")
    _, evs = run(0.0, n=40, tok=tok)
    contents = [e["choices"][0]["delta"]["content"] for e in evs[1:-3]]
    assert len(contents) == 40 and all(c.startswith(" ") and c[1:].isalpha() for c in contents)
    assert tok.count("".join(contents)) == 40
    assert evs[-2]["usage"]["completion_tokens"] == 40
