"""Estimate mode's workloads and accounting: built like genai-bench's, measured in virtual time."""

from __future__ import annotations

import itertools
import random
import statistics

import pytest

from pytest_autotune.bench.estimate import (
    account,
    jobs,
    measure_point,
    template_tokens,
    token_lengths,
)
from pytest_autotune.sim.cli import parse_args
from pytest_autotune.sim.config import resolve
from pytest_autotune.sim.virtual import Job, Record, VirtualCluster
from pytest_autotune.values import Workload, WorkloadPoint


def cluster(*flags: str, noise: float = 0.0) -> VirtualCluster:
    args = parse_args(["--model-path", "meta-llama/Llama-3.1-8B-Instruct", "--sim-gpu", "h100",
                       *flags])
    return VirtualCluster(resolve(args), seed=1, noise=noise, client_overhead=0.0035)


def test_scenarios_draw_like_genai_bench() -> None:
    rng = random.Random(0)
    assert token_lengths("D(100,20)", rng)() == (100, 20)
    normal = [token_lengths("N(480,240)/(300,150)", rng)() for _ in range(4000)]
    assert statistics.fmean(n for n, _ in normal) == pytest.approx(480, rel=0.05)
    assert min(n for n, _ in normal) >= 1 and min(o for _, o in normal) >= 2
    uniform = [token_lengths("U(10,20)/(5,9)", rng)() for _ in range(2000)]
    assert {n for n, _ in uniform} == set(range(10, 20))  # int(uniform(low, high)), as numpy's
    assert {o for _, o in uniform} == set(range(5, 9))


def test_prefix_len_shares_one_prefix_and_prefix_ratio_a_share_of_each_prompt() -> None:
    shared = list(itertools.islice(jobs("D(100,10)", Workload(("D(100,10)",), (1,),
                                                               prefix_len=60), 1), 5))
    assert len({j.prompt[:60] for j in shared}) == 1
    assert len({j.prompt[60:] for j in shared}) == 5
    ratio = list(itertools.islice(jobs("D(100,10)", Workload(("D(100,10)",), (1,),
                                                              prefix_ratio=0.5), 1), 5))
    assert len({j.prompt[:50] for j in ratio}) == 1 and all(len(j.prompt) == 100 for j in ratio)


def test_a_run_stops_at_the_first_tick_after_max_requests_finished() -> None:
    workload = Workload(("D(200,50)",), (8,), max_requests=40)
    metrics, samples = measure_point(cluster(), WorkloadPoint("D(200,50)", 8), workload, seed=3)
    assert metrics.num_requests >= 40
    assert metrics.run_duration == round(metrics.run_duration) >= 1
    # genai-bench's aggregate divides by the whole-second run; it is kept beside the steady one
    assert metrics.genai_bench["output_throughput"] == pytest.approx(
        50 * metrics.num_requests / metrics.run_duration)
    assert samples.steady is not None and samples.steady.concurrency == 8
    steady = samples.steady.requests
    assert 0 < steady < metrics.num_requests
    e2e = sum(samples.e2e[metrics.num_requests - steady:])
    assert metrics.output_throughput == pytest.approx(8 * 50 * steady / e2e)
    assert len(samples) == metrics.num_requests
    assert metrics.ttft.p50 is not None and metrics.tpot.p50 is not None


def test_prompts_carry_the_served_models_chat_template() -> None:
    """genai-bench's chat prompts reach the server wrapped in the model's template, which the
    server counts: Llama-3.1's adds 35 of its tokens, Qwen-3's 8."""
    assert template_tokens("meta-llama/Llama-3.1-8B-Instruct") == 35
    assert template_tokens("Qwen/Qwen3-8B") == 8
    workload = Workload(("D(200,50)",), (4,), max_requests=8)
    _, samples = measure_point(cluster(), WorkloadPoint("D(200,50)", 4), workload, seed=3)
    assert set(samples.input_tokens) == {235}
    first = list(itertools.islice(jobs("D(100,10)", workload, 1, template=35), 3))
    assert len({j.prompt[:35] for j in first}) == 1 and all(len(j.prompt) == 135 for j in first)


def test_requests_in_flight_at_the_stop_are_aborted_not_carried_into_the_next_run() -> None:
    c = cluster()
    workload = Workload(("D(200,400)",), (32,), max_requests=8)
    measure_point(c, WorkloadPoint("D(200,400)", 32), workload, seed=1)
    assert not any(s.has_work() for s in c.schedulers)
    metrics, _ = measure_point(c, WorkloadPoint("D(200,400)", 1), workload, seed=2)
    assert metrics.ttft.max is not None and metrics.ttft.max < 0.1  # no queue left behind


def test_more_load_more_throughput_and_latency() -> None:
    workload = Workload(("D(500,100)",), (1, 32), max_requests=64)
    low, _ = measure_point(cluster(), WorkloadPoint("D(500,100)", 1), workload, seed=1)
    high, _ = measure_point(cluster(), WorkloadPoint("D(500,100)", 32), workload, seed=1)
    assert high.output_throughput > 5 * low.output_throughput
    assert high.ttft.p99 is not None and low.ttft.p99 is not None
    assert high.ttft.p99 > low.ttft.p99


def test_warmup_and_cooldown_drop_requests_in_order_of_sending() -> None:
    records = [Record(i, float(i), 0.0, i + 0.1 * (i + 1), i + 1.0, 10, 5, 0, 0.0, 0)
               for i in range(10)]
    metrics, samples = account(records, 10.0,
                               Workload(("D(10,5)",), (1,), warmup_ratio=0.2, cooldown_ratio=0.1))
    assert metrics.num_requests == 10
    assert len(samples) == 7
    assert metrics.ttft.min == pytest.approx(0.3) and metrics.ttft.max == pytest.approx(0.9)


def test_users_start_at_once_and_send_as_the_one_client_builds_their_requests() -> None:
    """locust starts all of genai-bench's users in one batch (spawn rate = concurrency), and its
    one process builds one request at a time: the first wave reaches the server spaced by the
    build time, not spread over a second — and so does every wave of users whose fixed-length
    requests ended in the same step."""
    c = cluster()
    result = c.run(concurrency=4, jobs=[Job("y" * 200, 20)] * 12, prepare=lambda job: 0.01)
    starts = sorted(r.start for r in result.records)
    assert starts[:4] == pytest.approx([0.01, 0.02, 0.03, 0.04])
    for earlier, later in itertools.pairwise(starts):
        assert later - earlier >= 0.01 - 1e-9  # never two sends within one build time


def test_synchronised_users_queue_for_prefill() -> None:
    """32 users sent together wait for each other's prefill: the tail of TTFT is several times
    that of one user alone (the estimate once spread the users over a second and saw none)."""
    workload = Workload(("D(200,200)",), (1, 32), max_requests=64)
    alone, _ = measure_point(cluster(), WorkloadPoint("D(200,200)", 1), workload, seed=1)
    together, _ = measure_point(cluster(), WorkloadPoint("D(200,200)", 32), workload, seed=1)
    assert alone.ttft.p90 is not None and together.ttft.p90 is not None
    assert together.ttft.p90 > 2.5 * alone.ttft.p90


def test_a_response_that_arrives_while_the_client_builds_a_request_is_read_after() -> None:
    """genai-bench's one process reads nothing while it builds a request (CPU-bound sampling and
    tokenizing), so a first or last token that reaches it then is timed when it is done."""
    build = 0.05
    result = cluster().run(concurrency=4, jobs=[Job("y" * 200, 20)] * 16,
                           prepare=lambda job: build)
    sends = [r.start for r in result.records]
    inside = [(r.rid, t) for r in result.records for t in (r.first_token, r.end)
              if any(s - build + 1e-9 < t < s - 1e-9 for s in sends)]
    assert not inside
