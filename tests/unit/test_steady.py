"""Throughputs from the closed loop's steady state (bench/steady.py), on synthetic runs whose
truth is known: a closed loop of ``c`` users whose requests slow down with the load, started and
stopped as genai-bench 0.0.5 starts and stops them."""

from __future__ import annotations

import heapq
import json
import math
from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_autotune.bench.results import read_run_file
from pytest_autotune.bench.samples import RequestSamples
from pytest_autotune.bench.steady import (
    MIN_PER_USER,
    SteadyWindow,
    spawn_count,
    window,
)

GOLDEN = Path(__file__).resolve().parents[2] / "fixtures" / "genai_bench"
OUT = 100  # output tokens per request
IN = 200


def closed_loop(c: int, service: Callable[[int], float], max_requests: int) -> \
        tuple[list[float], float]:
    """genai-bench's run of ``c`` users (user ``u`` starts at ``u / c`` s, no think time), each
    request taking ``service(requests in flight when it starts)`` seconds; the run stops at the
    first whole second at which ``max_requests`` have finished, dropping those in flight.
    Returns the finished requests' e2e in the order they finished, and the run's duration."""
    events: list[tuple[float, int, int]] = [(u / c, 0, u) for u in range(c)]  # (t, kind, user)
    heapq.heapify(events)
    active = 0
    done: list[tuple[float, float]] = []  # (end, e2e)
    starts: dict[int, float] = {}
    tick = 1.0
    while events:
        t, kind, user = heapq.heappop(events)
        while t >= tick:  # genai-bench's stop rule, checked once a second
            if len(done) >= max_requests:
                return [e for _, e in done], tick
            tick += 1.0
        if kind == 0:
            active += 1
            starts[user] = t
            heapq.heappush(events, (t + service(active), 1, user))
        else:
            active -= 1
            done.append((t, t - starts[user]))
            heapq.heappush(events, (t, 0, user))
    raise AssertionError("unreachable")


def batch_service(n: int) -> float:
    """A decode-bound server: 0.2 s alone, 1.0 s with 32 requests in flight."""
    return 0.2 + 0.025 * n


def steady_of(e2e: list[float], c: int) -> SteadyWindow:
    return window(e2e, [IN] * len(e2e), [OUT] * len(e2e), c)


def test_the_tick_decides_genai_benchs_number_but_not_the_steady_one() -> None:
    """The issue's case: 1 s requests at 32 users. genai-bench's aggregate counts the spawn and
    the requests dropped at the tick (2,500 tok/s at 48 requests, 3,073 at 320); the steady
    estimate is the server's throughput whatever the cut."""
    truth = 32 * OUT / batch_service(32)  # Little's law: 3,200 tok/s
    for max_requests in (48, 96, 160, 320):
        e2e, duration = closed_loop(32, batch_service, max_requests)
        tick_based = len(e2e) * OUT / duration
        steady = steady_of(e2e, 32)
        assert steady.throughput("output_throughput") == pytest.approx(truth, rel=0.005)
        assert tick_based < truth * 0.97
        if max_requests == 48:
            assert tick_based == pytest.approx(truth * 0.78, rel=0.01)  # 22 % low
            assert steady.short


def test_the_spawn_is_left_out() -> None:
    """Requests started while users still arrive ran at a lower load: kept, they would make the
    server look faster than it is."""
    e2e, _ = closed_loop(32, batch_service, 320)
    everything = 32 * OUT * len(e2e) / sum(e2e)
    truth = 32 * OUT / batch_service(32)
    assert everything > truth * 1.03
    assert steady_of(e2e, 32).throughput("output_throughput") == pytest.approx(truth, rel=0.005)


def test_spawn_count_is_one_wave_for_long_requests_and_more_for_short_ones() -> None:
    assert spawn_count([2.0] * 100, 32) == 31  # the last user starts at the end of the spawn
    assert spawn_count([1.0] * 100, 1) == 0
    # 0.1 s requests at a constant speed: user u runs ⌈(31 − u) / 3.2⌉ during the spawn
    assert spawn_count([0.1] * 400, 32) == sum(math.ceil((31 - u) / 3.2 - 1e-9)
                                               for u in range(32))
    # requests faster under the ramp's lower load: the rebuilt timeline counts each of them
    e2e, _ = closed_loop(32, batch_service, 320)
    assert spawn_count(e2e, 32) > spawn_count([batch_service(32)] * len(e2e), 32) + 5


def test_a_short_window_is_flagged_and_says_how_many_requests_would_do() -> None:
    e2e, _ = closed_loop(32, batch_service, 48)
    short = steady_of(e2e, 32)
    assert short.short and short.per_user < MIN_PER_USER
    needed = short.requests_needed()
    e2e, _ = closed_loop(32, batch_service, needed)
    assert not steady_of(e2e, 32).short


def test_the_interval_covers_the_truth_and_narrows_with_a_longer_window() -> None:
    def noisy(seed: int) -> Callable[[int], float]:
        state = [seed]

        def service(n: int) -> float:
            state[0] = (state[0] * 1103515245 + 12345) % 2**31
            return batch_service(n) * (0.8 + 0.4 * state[0] / 2**31)
        return service

    truth = 32 * OUT / batch_service(32)
    widths = []
    for size in (200, 800):
        e2e, _ = closed_loop(32, noisy(size), size)
        steady = steady_of(e2e, 32)
        iv = steady.interval("output_throughput")
        # the noise is ±20 % uniform: E[1/x] ≠ 1/E[x], the estimator targets c·E[out]/E[e2e]
        assert iv.low < truth < iv.high
        widths.append(iv.relative_half_width(steady.throughput("output_throughput")))
    assert widths[1] < widths[0]


def test_pooled_passes_add_their_windows() -> None:
    e2e, _ = closed_loop(8, batch_service, 80)
    one = steady_of(e2e, 8)
    two = SteadyWindow.pooled([one, one])
    assert two.requests == 2 * one.requests and two.runs == 2
    assert two.per_user == pytest.approx(one.per_user)
    assert two.seconds == pytest.approx(one.seconds)
    assert two.throughput("output_throughput") == pytest.approx(
        one.throughput("output_throughput"))


def test_a_golden_genai_bench_run_file() -> None:
    """A real genai-bench 0.0.5 file (the simulator at 4 users, 0.22 s requests, cut at the first
    tick): 9 of its 16 requests started during the spawn, the 7 after give 4 × 100 tokens per
    0.219 s; genai-bench's own number divided by the whole second."""
    path = GOLDEN / "ms-grid" / "D100_100_text-to-text_num_concurrency_4_time_1s.json"
    raw = json.loads(path.read_text())
    _, metrics = read_run_file(path)
    e2e = [r["e2e_latency"] / 1000 for r in raw["individual_request_metrics"]]
    assert metrics.steady["spawn_requests"] == 9 and metrics.steady["requests"] == 7
    assert metrics.output_throughput == pytest.approx(4 * 100 * 7 / sum(e2e[9:]))
    assert metrics.request_throughput == pytest.approx(4 * 7 / sum(e2e[9:]))
    assert metrics.genai_bench["output_throughput"] == pytest.approx(
        raw["aggregated_metrics"]["mean_output_throughput_tokens_per_s"])
    assert metrics.short_run  # 1.75 requests per user: too few
    samples = RequestSamples.from_run(raw, warmup_ratio=0.25)  # 4 cut by genai-bench's warm-up
    assert samples.steady is not None and samples.steady.spawn_requests == 9
