"""Throughputs from the closed loop's steady state (bench/steady.py), on synthetic runs whose
truth is known: a closed loop of ``c`` users whose requests slow down with the load, started and
stopped as genai-bench 0.0.5 starts and stops them."""

from __future__ import annotations

import heapq
import json
import math
import random
import statistics
from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_autotune.bench.results import read_run_file
from pytest_autotune.bench.samples import RequestSamples
from pytest_autotune.bench.steady import (
    MIN_PER_USER,
    SteadyWindow,
    build_time,
    spawn_count,
    window,
)

GOLDEN = Path(__file__).resolve().parents[2] / "fixtures" / "genai_bench"
OUT = 100  # output tokens per request
IN = 200


def closed_loop(c: int, service: Callable[[int], float], max_requests: int) -> \
        tuple[list[float], float]:
    """genai-bench's run of ``c`` users (all started at once, user ``u``'s first request sent at
    ``u`` times the client's build time of a request, no think time), each
    request taking ``service(requests in flight when it starts)`` seconds; the run stops at the
    first whole second at which ``max_requests`` have finished, dropping those in flight.
    Returns the finished requests' e2e in the order they finished, and the run's duration."""
    build = build_time(IN)
    events: list[tuple[float, int, int]] = [(u * build, 0, u) for u in range(c)]  # (t, kind, user)
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
    the requests dropped at the tick (3,000 tok/s at 48 requests, 3,164 at 320, from one server);
    the steady estimate is the server's throughput whatever the cut."""
    truth = 32 * OUT / batch_service(32)  # Little's law: 3,200 tok/s
    tick_based = []
    for max_requests in (48, 96, 160, 320):
        e2e, duration = closed_loop(32, batch_service, max_requests)
        tick_based.append(len(e2e) * OUT / duration)
        steady = steady_of(e2e, 32)
        assert steady.throughput("output_throughput") == pytest.approx(truth, rel=0.005)
        assert tick_based[-1] < truth
        if max_requests == 48:
            assert steady.short
    assert max(tick_based) > min(tick_based) * 1.05  # the cut alone moves it by over 5 %


def test_the_spawn_is_left_out() -> None:
    """Requests started while users still arrive ran at a lower load: kept, they would make the
    server look faster than it is."""
    e2e, _ = closed_loop(32, batch_service, 320)
    everything = 32 * OUT * len(e2e) / sum(e2e)
    truth = 32 * OUT / batch_service(32)
    assert everything > truth * 1.03
    assert steady_of(e2e, 32).throughput("output_throughput") == pytest.approx(truth, rel=0.005)


def test_spawn_count_is_one_wave_for_long_requests_and_more_for_short_ones() -> None:
    build = build_time(IN)
    assert spawn_count([2.0] * 100, 32, build) == 31  # the last user starts the steady state
    assert spawn_count([1.0] * 100, 1, build) == 0
    assert spawn_count([1.0] * 100, 32, 0.0) == 0  # users sending at once: no spawn at all
    # 0.1 s requests at a constant speed, first requests 1/32 s apart (a slow client): user u
    # runs ⌈(31 − u) / 3.2⌉ during the spawn
    assert spawn_count([0.1] * 400, 32, 1 / 32) == sum(math.ceil((31 - u) / 3.2 - 1e-9)
                                                       for u in range(32))
    # requests faster under the ramp's lower load: the rebuilt timeline counts each of them
    e2e = [batch_service(1 + (u % 32)) / 8 for u in range(320)]
    assert spawn_count(e2e, 32, 1 / 32) > spawn_count([max(e2e)] * len(e2e), 32, 1 / 32) + 5


def test_a_short_window_is_flagged_and_says_how_many_requests_would_do() -> None:
    e2e, _ = closed_loop(32, batch_service, 48)
    short = steady_of(e2e, 32)
    assert short.short and short.per_user < MIN_PER_USER
    needed = short.requests_needed()
    e2e, _ = closed_loop(32, batch_service, needed)
    assert not steady_of(e2e, 32).short


def test_the_interval_covers_the_truth_and_narrows_with_a_longer_window() -> None:
    def noisy(seed: int) -> Callable[[int], float]:
        rng = random.Random(seed)
        return lambda n: batch_service(n) * rng.uniform(0.8, 1.2)

    truth = 32 * OUT / batch_service(32)
    seeds = range(20)
    for size in (200, 800):
        windows = [steady_of(closed_loop(32, noisy(seed), size)[0], 32) for seed in seeds]
        estimates = [w.throughput("output_throughput") for w in windows]
        intervals = [w.interval("output_throughput") for w in windows]
        assert all(iv.df == math.inf for iv in intervals)  # large-sample (bench/steady.py)
        # the c requests dropped at the cut are more likely long ones (a request in flight is
        # more likely a long one): the finished ones leave the estimate high by well under 2 %
        assert statistics.fmean(estimates) == pytest.approx(truth, rel=0.02)
        covered = sum(iv.low <= truth <= iv.high for iv in intervals)
        assert covered >= 14, f"{covered} of 20 intervals cover the truth at {size} requests"
    widths = {size: statistics.fmean(
        steady_of(closed_loop(32, noisy(seed), size)[0], 32).interval("output_throughput")
        .relative_half_width(truth) for seed in seeds) for size in (200, 800)}
    assert widths[800] < widths[200] * 0.75


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
    tick): its 4 users started at once and their first requests left 2.3 ms apart, so 3 of its
    16 requests started during the spawn; the 13 after give 4 × 100 tokens per 0.22 s;
    genai-bench's own number divided by the whole second."""
    path = GOLDEN / "ms-grid" / "D100_100_text-to-text_num_concurrency_4_time_1s.json"
    raw = json.loads(path.read_text())
    _, metrics = read_run_file(path)
    e2e = [r["e2e_latency"] / 1000 for r in raw["individual_request_metrics"]]
    assert metrics.steady["spawn_requests"] == 3 and metrics.steady["requests"] == 13
    assert metrics.output_throughput == pytest.approx(4 * 100 * 13 / sum(e2e[3:]))
    assert metrics.request_throughput == pytest.approx(4 * 13 / sum(e2e[3:]))
    assert metrics.genai_bench["output_throughput"] == pytest.approx(
        raw["aggregated_metrics"]["mean_output_throughput_tokens_per_s"])
    assert metrics.short_run  # 0.7 s of steady load: too short
    samples = RequestSamples.from_run(raw, warmup_ratio=0.25)  # 4 cut by genai-bench's warm-up
    assert samples.steady is not None and samples.steady.spawn_requests == 4
