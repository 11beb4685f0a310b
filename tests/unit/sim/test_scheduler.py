"""Scheduler mechanics in virtual time: admission, chunking, retraction, caches, policies."""

from __future__ import annotations

import pytest

from pytest_autotune.sim.admission import LPM_FALLBACK_QUEUE_LEN, active_policy
from pytest_autotune.sim.cli import parse_args
from pytest_autotune.sim.config import ResolvedConfig, resolve
from pytest_autotune.sim.costmodel import CostModel
from pytest_autotune.sim.request import Req
from pytest_autotune.sim.scheduler import Scheduler
from pytest_autotune.sim.tokens import Tokenizer
from pytest_autotune.sim.virtual import Job, Record, VirtualCluster, random_jobs, run_closed


def cfg(*flags: str, model: str = "llama-3.1-8b") -> ResolvedConfig:
    return resolve(parse_args(["--model-path", model, *flags]))


def req(rid: int, prompt: str, out: int, t: float = 0.0) -> Req:
    return Req(rid, prompt, out, out, Tokenizer().output(rid, out), t)


def drain(s: Scheduler, t: float = 0.0) -> float:
    while s.has_work():
        res = s.step(t)
        assert res is not None
        t = res.end
    return t


def assert_clean(s: Scheduler) -> None:
    assert s.private_used == 0 and s.running_kv == 0
    if s.tree is not None:
        assert s.tree.protected_size == 0
    assert s.available() + s.evictable() == s.pool


def test_prefill_then_decode_and_token_count() -> None:
    s = Scheduler(cfg())
    r = req(1, "x" * 100, 5)
    s.add(r)
    first = s.step(0.0)
    assert first is not None and first.kind == "prefill" and first.emitted == [r]
    assert r.first_token_time == first.end and r.out == 1
    kinds = []
    t = first.end
    while s.has_work():
        res = s.step(t)
        assert res is not None
        kinds.append(res.kind)
        t = res.end
    assert kinds == ["decode"] * 4 and r.out == 5 and r.finish_time == t
    assert_clean(s)


def test_long_prompt_is_chunked_and_chunks_run_back_to_back() -> None:
    s = Scheduler(cfg("--chunked-prefill-size", "1024"))
    short = req(1, "a" * 50, 50)
    s.add(short)
    t = s.step(0.0).end  # type: ignore[union-attr]
    s.add(req(2, "b" * 3000, 5))
    kinds = []
    for _ in range(4):
        res = s.step(t)
        assert res is not None
        kinds.append((res.kind, res.new_tokens))
        t = res.end
    # prefill has priority: three chunks in a row stall the running decode
    assert kinds[:3] == [("prefill", 1024), ("prefill", 1024), ("prefill", 952)]
    assert kinds[3][0] == "decode"
    drain(s, t)
    assert_clean(s)


def test_mixed_chunk_decodes_during_prefill() -> None:
    s = Scheduler(cfg("--chunked-prefill-size", "1024", "--enable-mixed-chunk"))
    s.add(req(1, "a" * 50, 50))
    t = s.step(0.0).end  # type: ignore[union-attr]
    s.add(req(2, "b" * 3000, 5))
    res = s.step(t)
    assert res is not None and res.kind == "mixed" and res.new_tokens == 1023
    assert [r.rid for r in res.emitted] == [1]


def test_prefix_cache_hit_and_disable() -> None:
    for flags, hit in (((), True), (("--disable-radix-cache",), False)):
        s = Scheduler(cfg(*flags))
        s.add(req(1, "shared-system-prompt " * 50 + "one", 3))
        drain(s)
        r2 = req(2, "shared-system-prompt " * 50 + "two", 3)
        s.add(r2)
        drain(s)
        assert (r2.cached_tokens >= 1000) is hit
        assert_clean(s)


def test_full_hit_still_prefills_one_token() -> None:
    s = Scheduler(cfg())
    s.add(req(1, "p" * 500, 2))
    drain(s)
    r = req(2, "p" * 500, 2)
    s.add(r)
    res = s.step(10.0)
    assert res is not None and res.new_tokens == 1 and r.cached_tokens == 499


def test_admission_is_limited_by_the_token_budget() -> None:
    s = Scheduler(cfg("--max-total-tokens", "5000"))
    for i in range(10):
        s.add(req(i, chr(65 + i) * 1000, 1000))
    res = s.step(0.0)
    assert res is not None
    # each request needs 1000 input + min(1000, 4096) output tokens: two fit in 5000
    assert res.new_seqs == 2 and len(s.waiting) == 8


def test_max_running_requests_caps_the_batch() -> None:
    s = Scheduler(cfg("--max-running-requests", "3"))
    for i in range(6):
        s.add(req(i, chr(65 + i) * 100, 50))
    s.step(0.0)
    assert len(s.running) == 3 and len(s.waiting) == 3


def test_retraction_when_the_pool_is_full() -> None:
    c = cfg("--max-total-tokens", "6000")
    res = run_closed(c, random_jobs(40, 500, 1200, seed=3), 16)
    s = res.schedulers[0]
    assert s.stats.retracted > 0
    assert len(res.records) == 40 and all(r.output_tokens == 1200 for r in res.records)
    assert any(r.retractions for r in res.records)
    assert_clean(s)


def test_new_token_ratio_decays_and_resets() -> None:
    s = Scheduler(cfg("--schedule-conservativeness", "1.0"))
    assert s.new_token_ratio == pytest.approx(0.7)
    assert s.min_ratio == pytest.approx(0.098)
    s.add(req(1, "x" * 10, 700))
    drain(s)
    assert s.new_token_ratio == pytest.approx(0.098)
    assert s.step(100.0) is None and s.new_token_ratio == pytest.approx(0.7)


def test_lpm_falls_back_to_fcfs_past_128_waiting() -> None:
    assert active_policy("lpm", True, LPM_FALLBACK_QUEUE_LEN) == "lpm"
    assert active_policy("lpm", True, LPM_FALLBACK_QUEUE_LEN + 1) == "fcfs"
    assert active_policy("dfs-weight", False, 1) == "fcfs"
    assert active_policy("lof", True, 500) == "lof"


def test_lof_orders_longest_output_first() -> None:
    s = Scheduler(cfg("--schedule-policy", "lof", "--max-running-requests", "1"))
    for i, out in enumerate((5, 50, 20)):
        s.add(req(i, chr(70 + i) * 10, out))
    s.step(0.0)
    assert s.running[0].max_new == 50


def test_cuda_graph_limit_and_eager_penalty() -> None:
    cost = CostModel(cfg("--cuda-graph-max-bs", "32"))
    assert cost.uses_graph(32) and not cost.uses_graph(33)
    assert cost.decode(33, 33_000) - cost.decode(32, 32_000) > 0.5e-3
    no_pad = CostModel(cfg("--cuda-graph-max-bs", "32", "--disable-cuda-graph-padding"))
    assert no_pad.uses_graph(32) and no_pad.uses_graph(31)  # every size up to the max
    assert not CostModel(cfg("--disable-cuda-graph")).uses_graph(1)


def test_dp_replicas_share_load_round_robin() -> None:
    res = run_closed(cfg("--dp-size", "2"), random_jobs(20, 100, 20), 4)
    ranks = {r.rid % 2: 0 for r in res.records}
    assert len(ranks) == 2
    assert all(s.stats.finished == 10 for s in res.schedulers)


def test_poisson_and_closed_loop_records_are_consistent() -> None:
    cluster = VirtualCluster(cfg(), client_overhead=0.002, keep_token_times=True)
    res = cluster.run(concurrency=2, jobs=[Job("y" * 200, 10)] * 6)
    for r in res.records:
        assert r.token_times is not None and len(r.token_times) == 10
        assert r.first_token == pytest.approx(r.token_times[0])
        assert r.end == pytest.approx(r.token_times[-1])
        assert r.start < r.arrival < r.first_token < r.end


def test_speculative_decoding_is_modelled_crudely() -> None:
    base = cfg()
    eagle = cfg("--speculative-algorithm", "EAGLE")
    assert eagle.max_running_requests == 48 and not eagle.overlap_schedule
    assert 2.0 < eagle.spec_accept < 3.5 and eagle.spec_draft_tokens == 4
    jobs = random_jobs(8, 500, 300, seed=1)
    plain = run_closed(base, jobs, 1).records
    spec = run_closed(eagle, jobs, 1).records
    assert all(r.output_tokens == 300 for r in spec)  # exact counts despite multi-token steps
    def mean_tpot(records: list[Record]) -> float:
        return sum(r.tpot or 0.0 for r in records) / len(records)

    assert mean_tpot(spec) < 0.6 * mean_tpot(plain)


def test_kv_pool_is_never_overcommitted() -> None:
    for flags in ((), ("--disable-radix-cache",), ("--enable-mixed-chunk",)):
        s = Scheduler(cfg("--max-total-tokens", "8000", *flags))
        for i, job in enumerate(random_jobs(40, 700, 900, seed=4)):
            s.add(req(i, job.prompt, job.output_len))
        t = 0.0
        peak = 0
        while s.has_work():
            res = s.step(t)
            assert res is not None
            t = res.end
            used = s.pool - s.available()
            peak = max(peak, used)
            assert used <= s.pool
        assert s.stats.finished == 40 and peak > 0.9 * s.pool
        assert_clean(s)


def test_time_spent_tokenizing_counts_toward_the_modelled_ingress() -> None:
    """The ingress (parsing, chat template, tokenizer) runs from the HTTP request's arrival: the
    real time the simulator spent tokenizing is part of it, not added on top of it."""
    import asyncio

    from pytest_autotune.sim.engine import Engine

    async def go() -> None:
        engine = Engine(cfg(), seed=0, noise=0.0)
        ingress = engine.cost.ingress(1000)
        now = engine.loop.time()
        quick = engine.submit("x" * 1000, 5, True, None, received=now - 0.004)
        assert quick.arrival == pytest.approx(now - 0.004 + ingress, abs=5e-4)
        slow = engine.submit("x" * 1000, 5, True, None, received=now - 2 * ingress)
        assert now <= slow.arrival <= engine.loop.time()  # tokenizing outlasted the ingress
        plain = engine.submit("x" * 1000, 5, True, None)
        assert plain.arrival >= now + ingress

    asyncio.run(go())
