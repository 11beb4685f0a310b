from __future__ import annotations

import math

import pytest

from pytest_autotune.decide.slo import evaluate, failure_message, parse_slo, parse_slos
from pytest_autotune.units import parse_duration, parse_ratio
from pytest_autotune.values import Metrics, Stat


def metrics(**kw: float) -> Metrics:
    return Metrics(
        ttft=Stat(mean=0.05, p50=0.04, p90=0.09, p95=0.12, p99=0.25),
        tpot=Stat(mean=0.002, p50=0.002, p95=0.004, p99=0.006),
        e2e=Stat(mean=0.3, p50=0.28, p99=0.6),
        output_latency=Stat(),
        output_throughput=kw.get("out", 2500.0), input_throughput=2400.0,
        total_throughput=4900.0, request_throughput=25.0,
        num_requests=int(kw.get("n", 100)), num_errors=int(kw.get("errors", 0)),
        run_duration=4.0,
    )


@pytest.mark.parametrize(("text", "metric", "stat", "op", "threshold"), [
    ("ttft.p99 <= 200ms", "ttft", "p99", "<=", 0.2),
    ("ttft:p95<200ms", "ttft", "p95", "<", 0.2),
    ("itl.p95 < 10ms", "tpot", "p95", "<", 0.01),
    ("e2e_latency.p50 <= 1.5s", "e2e", "p50", "<=", 1.5),
    ("tpot <= 0.02s", "tpot", "mean", "<=", 0.02),
    ("tpot <= 20 ms", "tpot", "mean", "<=", 0.02),
    ("error_rate <= 1%", "error_rate", None, "<=", 0.01),
    ("error_rate <= 0", "error_rate", None, "<=", 0.0),
    ("output_throughput >= 2000 tok/s", "output_throughput", None, ">=", 2000.0),
    ("total_throughput >= 4000tok/s", "total_throughput", None, ">=", 4000.0),
    ("request_throughput > 3.5 req/s", "request_throughput", None, ">", 3.5),
])
def test_parse_forms(text: str, metric: str, stat: str | None, op: str, threshold: float) -> None:
    slo = parse_slo(text)
    assert (slo.metric, slo.stat, slo.op) == (metric, stat, op)
    assert slo.threshold == pytest.approx(threshold)


def test_compact_string_form_splits_on_semicolons() -> None:
    slos = parse_slos("ttft:p95<200ms;itl:p95<10ms")
    assert [s.name for s in slos] == ["ttft.p95", "tpot.p95"]


@pytest.mark.parametrize("bad", ["ttft.p99", "ttft.p99 <= fast", "wat.p99 <= 1s",
                                 "ttft.p12 <= 1s", "error_rate.p99 <= 1%", "ttft.p99 <= -1s"])
def test_bad_slos_raise_with_help(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_slo(bad)


@pytest.mark.parametrize(("text", "fix"), [
    ("ttft.p90 <= 500", "write 500ms or 500s"),
    ("error_rate <= 1", "write 1%"),
    ("output_throughput >= 2000", "write 2000 tok/s"),
    ("request_throughput >= 40", "write 40 req/s"),
])
def test_a_threshold_without_a_unit_is_an_error_naming_the_units(text: str, fix: str) -> None:
    # ttft.p90 <= 500 was 500 s, error_rate <= 1 was 100 %: silently not what was meant
    with pytest.raises(ValueError) as info:
        parse_slo(text)
    message = str(info.value)
    assert "has no unit" in message and fix in message
    for unit in ("ms", " s ", "%", "tok/s", "req/s"):
        assert unit in message


@pytest.mark.parametrize(("text", "named"), [
    ("ttft.p90 <= 500 tok/s", "ttft takes ms or s"),
    ("error_rate <= 1 ms", "error_rate takes %"),
    ("output_throughput >= 2000 req/s", "output_throughput takes tok/s, not 'req/s'"),
    ("request_throughput >= 40 tok/s", "request_throughput takes req/s"),
])
def test_a_unit_of_another_metric_is_an_error(text: str, named: str) -> None:
    with pytest.raises(ValueError, match="bad value") as info:
        parse_slo(text)
    assert named in str(info.value)


def test_evaluate_and_message_lists_every_slo_with_margin() -> None:
    slos = parse_slos(["ttft.p99 <= 200ms", "error_rate <= 1%",
                       "output_throughput >= 3000 tok/s"])
    verdicts = evaluate(slos, metrics(errors=0))
    assert [v.ok for v in verdicts] == [False, True, False]
    assert verdicts[0].violation == pytest.approx(0.25)
    message = failure_message("D(100,100)-c16", verdicts)
    assert "2 of 3 failed" in message
    assert "ttft.p99 <= 200ms" in message and "measured 250.0ms" in message
    assert "missed by 50.0ms (+25.0%)" in message
    assert "error_rate <= 1%" in message and "headroom" in message
    assert "output_throughput >= 3000 tok/s" in message and "missed by 500.0" in message


def test_error_rate_is_computed_not_taken_from_genai_bench() -> None:
    assert metrics(n=29, errors=7).error_rate == pytest.approx(7 / 29)
    verdicts = evaluate(parse_slos(["error_rate <= 1%"]), metrics(n=29, errors=7))
    assert not verdicts[0].ok


def test_soft_slo_does_not_fail_but_hard_with_fail_ratio_does() -> None:
    soft = parse_slo("ttft.p99 <= 200ms", hard=False)
    lenient = parse_slo("ttft.p99 <= 200ms", fail_ratio=0.5)
    strict = parse_slo("ttft.p99 <= 200ms")
    v_soft, v_lenient, v_strict = evaluate([soft, lenient, strict], metrics())
    assert not v_soft.ok and not v_soft.hard_failure
    assert not v_lenient.hard_failure  # 25 % over, allowed up to 50 %
    assert v_strict.hard_failure


def test_missing_measurement_is_a_failure() -> None:
    verdict = evaluate([parse_slo("ttft.p90 <= 1s")], Metrics.from_dict({"num_requests": 1}))[0]
    assert verdict.measured is None and not verdict.ok and math.isinf(verdict.violation)


@pytest.mark.parametrize(("text", "seconds"), [
    ("200ms", 0.2), ("0.2s", 0.2), ("2m", 120.0), (3, 3.0), ("1.5", 1.5), ("250us", 0.00025)])
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(("text", "ratio"), [("1%", 0.01), ("0.5", 0.5), (0.02, 0.02)])
def test_ratios(text: object, ratio: float) -> None:
    assert parse_ratio(text) == pytest.approx(ratio)
