"""The HTML report: one self-contained file per run (or per comparison of two runs).

Per case: what produced the numbers (a SIMULATED banner, mode, SGLang version, hardware), the
winner and its launch command, a Pareto chart of output throughput against the latency the
SLOs bound, latency-vs-load curves per configuration, and a sortable table of every point with
its verdicts and margins. Charts (:mod:`.charts`) are inline SVG (:mod:`.svg`); the only script
sorts tables and copies the launch command. Nothing is fetched: the file opens offline.
"""

from __future__ import annotations

import math
import shlex
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

from ..results.records import CaseReport, PointResult, RunReport, Trial
from ..units import format_seconds
from ..values import LATENCY_METRICS
from . import svg
from .charts import LatencyAxis, latency_axes, load_charts, pareto_chart
from .table import SHORT_MARK, decision_lines, format_score, short_run_lines, spread

if TYPE_CHECKING:
    from ..decide.gate import GateResult

STYLE = """
:root { --fg: #1d2330; --muted: #5b6475; --line: #d9dde5; --bg: #fff; --soft: #f4f6f9;
        --good: #2f7d32; --bad: #b3261e; --warn: #8a5a00; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg);
       background: var(--bg); margin: 0 auto; padding: 16px 24px 48px; max-width: 1360px; }
h1 { font-size: 22px; margin: 4px 0 8px; } h2 { font-size: 18px; margin: 0 0 4px; }
h3 { font-size: 15px; margin: 18px 0 6px; }
.facts { color: var(--muted); margin: 0 0 12px; } .facts b { color: var(--fg); font-weight: 600; }
.banner { padding: 8px 12px; border-radius: 6px; margin: 8px 0; font-weight: 600; }
.banner.simulated { background: #fff4d6; color: var(--warn); border: 1px solid #f0d48a; }
.banner.partial { background: #fde7e6; color: var(--bad); border: 1px solid #f3b6b1; }
section.case { border-top: 2px solid var(--line); margin-top: 24px; padding-top: 16px; }
.muted { color: var(--muted); }
.winner { background: var(--soft); border-radius: 6px; padding: 10px 12px; margin: 10px 0; }
.winner .none { color: var(--bad); font-weight: 600; }
.cmd { display: flex; gap: 8px; align-items: flex-start; margin-top: 6px; }
.cmd pre { flex: 1; margin: 0; padding: 8px; background: #fff; border: 1px solid var(--line);
           border-radius: 4px; white-space: pre-wrap; word-break: break-all; font-size: 12px; }
button.copy { font: inherit; padding: 4px 10px; border: 1px solid var(--line);
              border-radius: 4px; background: #fff; cursor: pointer; }
.charts { display: flex; flex-wrap: wrap; gap: 12px; }
figure { margin: 0; } figcaption { color: var(--muted); font-size: 12px; max-width: 640px; }
svg { background: #fff; font-size: 11px; }
svg .title { font-weight: 600; font-size: 12px; fill: var(--fg); }
svg .plot { fill: none; stroke: var(--line); } svg .grid { stroke: #eef0f4; }
svg .tick, svg .legend { fill: var(--muted); } svg .label { fill: var(--fg); }
svg .rule { stroke: var(--bad); stroke-dasharray: 5 4; stroke-width: 1.5; }
svg .rule-label { fill: var(--bad); font-size: 11px; }
svg .front { fill: none; stroke: #222; stroke-width: 1.5; stroke-dasharray: 2 3; }
svg .series { fill: none; stroke-width: 2; }
svg .err { stroke: #8a93a3; stroke-width: 1.2; }
svg .mark { stroke: #fff; stroke-width: 1; }
svg .mark.miss { opacity: .35; }
svg .mark.best { stroke: #111; stroke-width: 2.5; }
svg .mark.tied { stroke: #111; stroke-width: 1.5; stroke-dasharray: 2 2; }
svg .mark.baseline { fill: none; stroke: #8a93a3; stroke-width: 1.5; }
table { border-collapse: collapse; width: 100%; font-size: 12.5px; margin-top: 4px; }
th, td { padding: 4px 8px; border-bottom: 1px solid var(--line); text-align: left;
         vertical-align: top; }
th { background: var(--soft); position: sticky; top: 0; cursor: pointer; user-select: none;
     white-space: nowrap; }
th[data-dir="asc"]::after { content: " ▲"; } th[data-dir="desc"]::after { content: " ▼"; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.short { color: #a15c00; } div.note { color: #a15c00; margin: 4px 0; }
tr.best td { background: #e9f5ea; } tr.tied td { background: #f4faf4; }
tr.infeasible td, tr.error td, tr.skipped td { color: var(--muted); }
.pass { color: var(--good); } .fail { color: var(--bad); } .unresolved { color: var(--warn); }
ul.findings { margin: 4px 0; padding-left: 18px; }
"""

SCRIPT = """
document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("th").forEach(function (th, col) {
    th.addEventListener("click", function () {
      var asc = th.dataset.dir !== "asc";
      table.querySelectorAll("th").forEach(function (h) { delete h.dataset.dir; });
      th.dataset.dir = asc ? "asc" : "desc";
      var body = table.tBodies[0];
      var key = function (row) {
        var cell = row.cells[col];
        var raw = cell ? (cell.dataset.v !== undefined ? cell.dataset.v : cell.textContent) : "";
        var num = parseFloat(raw);
        return isNaN(num) || String(num) !== raw.trim() ? raw : num;
      };
      Array.prototype.slice.call(body.rows).sort(function (a, b) {
        var x = key(a), y = key(b);
        var order = typeof x === "number" && typeof y === "number" ? x - y
          : String(x).localeCompare(String(y), undefined, {numeric: true});
        return asc ? order : -order;
      }).forEach(function (row) { body.appendChild(row); });
    });
  });
});
document.querySelectorAll("button.copy").forEach(function (button) {
  button.addEventListener("click", function () {
    var source = document.getElementById(button.dataset.target);
    var done = function () {
      button.textContent = "copied";
      setTimeout(function () { button.textContent = "copy"; }, 1500);
    };
    var select = function () {
      var range = document.createRange();
      range.selectNodeContents(source);
      var sel = window.getSelection();
      sel.removeAllRanges();
      sel.addRange(range);
      try { document.execCommand("copy"); done(); } catch (e) { button.textContent = "select"; }
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(source.textContent).then(done, select);
    } else {
      select();
    }
  });
});
"""


# -- facts ------------------------------------------------------------------------------------
def _versions(trials: Iterable[Trial]) -> list[str]:
    return sorted({str(t.server_info["version"]) for t in trials if t.server_info.get("version")})


def _hardware(trials: Sequence[Trial]) -> str:
    simulated = sorted({str(t.server_info.get("sim", {}).get("gpu")) for t in trials
                        if isinstance(t.server_info.get("sim"), dict)
                        and t.server_info["sim"].get("gpu")})
    if simulated:
        estimated = any(isinstance(t.server_info.get("sim"), dict)
                        and t.server_info["sim"].get("estimate") for t in trials)
        return ", ".join(simulated) + (" (estimated)" if estimated else " (simulated)")
    counts = sorted({len(t.gpus) for t in trials if t.gpus})
    if counts:
        return " or ".join(str(c) for c in counts) + " GPU(s) per configuration"
    return "not recorded"


def _when(stamp: float) -> str:
    return datetime.fromtimestamp(stamp, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _facts(report: RunReport) -> str:
    trials = report.trials
    versions = ", ".join(_versions(trials)) or "not reported"
    parts = [f"mode <b>{escape(report.mode)}</b>", f"SGLang <b>{escape(versions)}</b>",
             f"hardware <b>{escape(_hardware(trials))}</b>",
             f"commit <b>{escape(report.commit)}</b>",
             f"started {_when(report.started)}, {report.finished - report.started:,.0f} s"]
    return '<p class="facts">' + " · ".join(parts) + "</p>"


def _banners(report: RunReport) -> str:
    out = []
    if report.simulated:
        note = report.note or "SIMULATED: numbers come from the simulator"
        out.append(f'<div class="banner simulated">{escape(note)}</div>')
    if not report.complete:
        out.append('<div class="banner partial">PARTIAL RUN — '
                   + escape("; ".join(report.completeness.reasons)) + "</div>")
    return "\n".join(out)


def _figure(chart: svg.Chart, caption: str) -> str:
    return f"<figure>{svg.render(chart)}<figcaption>{escape(caption)}</figcaption></figure>"


# -- tables -----------------------------------------------------------------------------------
def _verdict_cell(point: PointResult) -> str:
    if not point.verdicts:
        return '<td data-v="">-</td>'
    parts, tightest = [], math.inf
    for v in point.verdicts:
        state = "pass" if v.state == "met" else "fail" if v.state == "missed" else "unresolved"
        margin = v.margin
        if margin is not None:
            tightest = min(tightest, margin)
        text = f"{v.slo.text}: {'met' if v.state == 'met' else v.state}"
        if margin is not None:
            text += f" ({margin:+.0%})"
        if not v.slo.hard:
            text += " soft"
        parts.append(f'<span class="{state}">{escape(text)}</span>')
    key = f"{tightest:.4f}" if math.isfinite(tightest) else ""
    return f'<td data-v="{key}">' + "<br>".join(parts) + "</td>"


def _num(value: float | None, text: str) -> str:
    key = "" if value is None or not math.isfinite(value) else f"{value:.6g}"
    return f'<td class="num" data-v="{key}">{escape(text)}</td>'


#: the tooltip of a short run's throughput cell
SHORT_TITLE = "short run: too little steady load to trust this throughput (docs/metrics.md)"


def config_table(case: CaseReport, axes: Sequence[LatencyAxis]) -> str:
    """Every configuration × point, sortable; configurations that did not run say why."""
    tied = {t.config_key for t in case.tied}
    head = ["#", "configuration", "point", "outcome", "out tok/s"]
    head += [a.label for a in axes] + ["error rate", "passes", "SLO verdicts (margin)", "score"]
    rows = []
    for number, trial in enumerate(case.trials, 1):
        css = ("best" if case.best is not None and trial.config_key == case.best.config_key
               else "tied" if trial.config_key in tied else trial.status)
        config = escape(trial.config_id)
        score = _num(trial.score, format_score(trial.score, case.unit)
                     + f" {spread(trial.score, trial.score_interval)}".rstrip())
        if trial.status != "ok":
            blanks = "".join('<td data-v=""></td>' for _ in range(len(axes) + 3))
            reason = (trial.reason or trial.status).strip()
            rows.append(f'<tr class="{css}">{_num(number, str(number))}<td>{config}</td>'
                        f'<td>-</td><td data-v="{trial.status}">{escape(trial.status)}</td>'
                        f'{blanks}<td>{escape(reason)}</td>{score}</tr>')
            continue
        for point in trial.points:
            m = point.metrics
            outcome = "pruned" if point.pruned else point.outcome
            cells = [_num(number, str(number)), f"<td>{config}</td>",
                     f"<td>{escape(point.id)}</td>",
                     f'<td data-v="{outcome}">{escape(outcome)}</td>']
            if m is None:
                cells += ['<td data-v=""></td>'] * (len(axes) + 3)
                cells.append(f"<td>{escape(point.reason or point.outcome)}</td>")
            else:
                text = (f"{m.output_throughput:,.0f} "
                        + spread(m.output_throughput, m.interval("output_throughput")))
                if m.short_run:
                    cells.append(f'<td class="num short" data-v="{m.output_throughput:.6g}" '
                                 f'title="{SHORT_TITLE}">{escape(text)} {SHORT_MARK}</td>')
                else:
                    cells.append(_num(m.output_throughput, text))
                for axis in axes:
                    value = axis.value(point)
                    cells.append(_num(value, f"{format_seconds(value)} " + spread(
                        value, m.interval(axis.metric, axis.stat))))
                cells.append(_num(m.error_rate, f"{m.error_rate:.1%}"))
                cells.append(_num(m.passes, str(m.passes)))
                cells.append(_verdict_cell(point))
            cells.append(score)
            rows.append(f'<tr class="{css}">' + "".join(cells) + "</tr>")
    header = "".join(f"<th>{escape(h)}</th>" for h in head)
    notes = "".join(f'<div class="note">{escape(line.strip())}</div>'
                    for line in short_run_lines(case))
    return (f'<table class="sortable configs"><thead><tr>{header}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table>{notes}')


# -- the winner -------------------------------------------------------------------------------
def _winner(case: CaseReport, anchor: str) -> str:
    best = case.best
    if best is None:
        return ('<div class="winner"><span class="none">no configuration met the SLOs at any '
                'workload point</span></div>')
    score = format_score(best.score, case.unit) + f" {spread(best.score, best.score_interval)}"
    lines = "".join(f"<div>{escape(line.strip())}</div>" for line in decision_lines(case))
    out = [f'<div class="winner"><div><b>best: #{case.best_number} {escape(best.config_id)}'
           f"</b> ({escape(score.strip())})</div>{lines}"]
    if best.launch_command:
        target = f"cmd-{anchor}"
        out.append(f'<div class="cmd"><pre id="{target}">{escape(shlex.join(best.launch_command))}'
                   f'</pre><button class="copy" type="button" data-target="{target}">copy'
                   "</button></div>")
    out.append("</div>")
    return "".join(out)


def _anchor(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in name)


def case_section(case: CaseReport, *, baseline: CaseReport | None = None,
                 extra: str = "") -> str:
    anchor = _anchor(case.name)
    axes = latency_axes(case)
    slos = "; ".join(case.slos) or "none"
    figures = [_figure(pareto_chart(case, axes[0], baseline=baseline),
                       "One mark per configuration × workload point; bars are 95 % intervals; "
                       "the dotted staircase is the Pareto front; the winner's marks are "
                       "outlined, marks of configurations tied with it dashed, points that miss "
                       "an SLO faded" + ("; hollow marks are the baseline run" if baseline
                                         else "") + ".")]
    for axis in axes:
        figures += [_figure(c, "One line per configuration; red dashes are the SLO thresholds.")
                    for c in load_charts(case, axis)]
    return (f'<section class="case" id="case-{anchor}"><h2>{escape(case.name)} '
            f'<span class="muted">({escape(case.source)})</span></h2>'
            f"<div>objective: {escape(case.objective_description)}</div>"
            f"<div>SLOs: {escape(slos)}</div>{_winner(case, anchor)}{extra}"
            f'<div class="charts">{"".join(figures)}</div>'
            f"<h3>Configurations</h3>{config_table(case, axes)}</section>")


def _page(title: str, body: str) -> str:
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{escape(title)}</title><style>{STYLE}</style></head>"
            f"<body>{body}<script>{SCRIPT}</script></body></html>\n")


def shortlist_table(report: RunReport, case: CaseReport) -> str:
    """The ``--autotune-shortlist`` stage of a case: every estimate, and what the shortlisted
    configurations measured."""
    from .table import SHORTLIST_COLUMNS, shortlist_lines, shortlist_of, shortlist_rows

    entry = shortlist_of(report, case)
    if entry is None:
        return ""
    header = "".join(f"<th>{escape(c)}</th>" for c in SHORTLIST_COLUMNS)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>"
                   for row in shortlist_rows(case, entry))
    return (f'<h3>Shortlist</h3><div class="banner simulated">'
            f"{escape(shortlist_lines(case, entry)[0])}</div>"
            f'<table class="sortable shortlist"><thead><tr>{header}</tr></thead>'
            f"<tbody>{body}</tbody></table>")


def render_run(report: RunReport) -> str:
    """The whole run as one HTML page."""
    body = (f"<h1>pytest-autotune run {escape(report.run_id)}</h1>{_facts(report)}"
            f"{_banners(report)}" + "".join(
                case_section(c, extra=shortlist_table(report, c)) for c in report.cases))
    return _page(f"autotune run {report.run_id}", body)


def render_compare(a: RunReport, b: RunReport, *, a_name: str = "A", b_name: str = "B",
                   threshold: float | None = None) -> str:
    """Run B against baseline A: each case's best score and every shared point's change,
    the gate's findings, and B's charts with A's points beside them."""
    from ..decide import gate

    limit = gate.DEFAULT_THRESHOLD if threshold is None else threshold
    result = gate.compare_runs(a, b, baseline_name=a_name, threshold=limit)
    findings = result.lines() or [f"no regression: every point B shares with A is within the "
                                  f"noise or the {limit:.0%} threshold"]
    sections = []
    for case in b.cases:
        old = a.case(case.name)
        sections.append(case_section(case, baseline=old, extra=_delta_table(case, old, result)))
    body = (f"<h1>pytest-autotune: {escape(b_name)} against {escape(a_name)}</h1>"
            f"<div><b>A</b> {escape(a_name)}: {_facts(a)}</div>"
            f"<div><b>B</b> {escape(b_name)}: {_facts(b)}</div>{_banners(b)}"
            '<h3>Findings</h3><ul class="findings">'
            + "".join(f"<li>{escape(line)}</li>" for line in findings) + "</ul>"
            + "".join(sections))
    return _page(f"autotune compare {a_name} {b_name}", body)


def _delta_table(case: CaseReport, old: CaseReport | None, result: GateResult) -> str:
    if old is None:
        return '<p class="muted">this case is not in the baseline run</p>'
    best_change = result.case_changes.get(case.name)
    old_best = format_score(old.best.score if old.best else None, case.unit)
    new_best = format_score(case.best.score if case.best else None, case.unit)
    head = (f"<p>best score: A {escape(old_best)} → B {escape(new_best)}"
            + (f" — {escape(best_change.text())}" if best_change else "") + "</p>")
    rows = []
    for (name, config, point), changes in result.point_changes.items():
        if name != case.name:
            continue
        for change in changes:
            css = ("fail" if change.verdict == "regression" else
                   "pass" if change.verdict == "improvement" else "")
            rows.append(f"<tr><td>{escape(config)}</td><td>{escape(point)}</td>"
                        f"<td>{escape(change.metric)}</td>"
                        f"{_num(change.old, _metric_text(change.metric, change.old))}"
                        f"{_num(change.new, _metric_text(change.metric, change.new))}"
                        f"{_num(change.relative, f'{change.relative:+.1%}')}"
                        f'<td class="{css}">{escape(change.verdict)}</td></tr>')
    if not rows:
        return head
    header = "".join(f"<th>{h}</th>" for h in
                     ("configuration", "point", "metric", "A", "B", "change", "verdict"))
    return (head + f'<table class="sortable deltas"><thead><tr>{header}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table>')


def _metric_text(metric: str, value: float) -> str:
    """``ttft.p90`` in seconds as ``20.9ms``, an error rate as a percentage, else the number."""
    name = metric.split(".", 1)[0]
    if name in LATENCY_METRICS:
        return format_seconds(value)
    if name == "error_rate":
        return f"{value:.2%}"
    return f"{value:,.1f}"


def write_html(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path


__all__ = ["case_section", "config_table", "render_compare", "render_run", "write_html"]
