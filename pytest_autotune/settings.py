"""Options, ini keys and environment variables, resolved once into a frozen :class:`Settings`
(pytest-free: ``plugin/options.py`` registers the options and reads pytest's config; the values
are parsed and checked here).

Precedence: command line > environment > ini file > default. Every option has an ini twin
(``--autotune-mode`` ↔ ``autotune_mode``) and an environment variable (``AUTOTUNE_MODE``); errors
name where the bad value came from.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from .units import parse_duration

#: the modes this package deploys itself; a ``pytest_autotune_make_backend`` implementation
#: may add others (the session checks the chosen mode against the hook at configure time)
MODES = ("sim", "local", "docker", "ome", "endpoint", "estimate")
T = TypeVar("T")


def _mode(value: str) -> str:
    mode = value.strip().lower()
    if not re.fullmatch(r"[a-z][a-z0-9_-]*", mode):
        raise ValueError(f"a mode is a name such as {', '.join(MODES)}; got {value!r}")
    return mode


def _bool(value: str | bool) -> bool:
    if isinstance(value, bool):
        return value
    text = value.strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"expected true or false, got {value!r}")


def _positive_int(value: str) -> int:
    number = int(value)
    if number < 1:
        raise ValueError(f"expected a whole number ≥ 1, got {value!r}")
    return number


def _duration(value: str) -> float:
    seconds = parse_duration(value)
    if seconds <= 0:
        raise ValueError(f"expected a positive duration, got {value!r}")
    return seconds


def _access(value: str) -> str:
    mode = value.strip().lower()
    if mode not in ("auto", "port-forward", "service"):
        raise ValueError(f"expected auto, port-forward or service; got {value!r}")
    return mode


def _k8s_name(value: str) -> str:
    name = value.strip()
    if not re.fullmatch(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", name):
        raise ValueError(f"{value!r} is not a Kubernetes name (lower-case letters, digits and "
                         "'-', at most 63)")
    return name


def _scale(value: str) -> float:
    number = float(value)
    if not 0 < number <= 10:
        raise ValueError(f"expected a factor in (0, 10], got {value!r}")
    return number


def _size(value: str) -> str:
    text = value.strip().lower()
    if not re.match(r"^\d+(\.\d+)?[bkmg]?$", text):
        raise ValueError(f"expected a size such as 32g or 512m, got {value!r}")
    return text


def _noise_floor(value: str) -> tuple[float, float]:
    """``2%`` (tail latencies: 2.5 × that) or ``2%,5%`` (central, tail)."""
    from .units import parse_ratio

    parts = [p.strip() for p in value.split(",") if p.strip()]
    if not 1 <= len(parts) <= 2:
        raise ValueError(f"expected a percentage such as 2% or a pair such as 2%,5%; got {value!r}")
    numbers = [parse_ratio(p) for p in parts]
    if any(not 0 <= n < 1 for n in numbers):
        raise ValueError(f"noise floors are fractions below 100 %, got {value!r}")
    central = numbers[0]
    return central, numbers[1] if len(numbers) == 2 else 2.5 * central


def _ratio(value: str) -> float:
    from .units import parse_ratio

    number = parse_ratio(value)
    if not 0 <= number < 1:
        raise ValueError(f"expected a percentage such as 5% (below 100 %), got {value!r}")
    return number


#: ``--autotune-progress``: live status lines while a point is benchmarked
PROGRESS_MODES = ("auto", "lines", "off")


def _progress(value: str) -> str:
    mode = value.strip().lower()
    if mode not in PROGRESS_MODES:
        raise ValueError(f"expected one of {', '.join(PROGRESS_MODES)}; got {value!r}")
    return mode


def _strategy(value: str) -> str:
    name = value.strip().lower()
    if not re.fullmatch(r"[a-z][a-z0-9_-]*", name):
        raise ValueError(f"a search strategy is a name such as grid, random or optuna; "
                         f"got {value!r}")
    return name


def _ulimits(value: str) -> str:
    from .backends.container import parse_ulimits

    parse_ulimits(value)
    return value.strip()


def _gpus(value: str) -> str:
    text = value.strip()
    if text == "auto":
        return text
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts or not all(p.isdigit() or p.startswith("GPU-") for p in parts):
        raise ValueError(f"expected 'auto' or GPU indices such as '0,1,3', got {value!r}")
    return ",".join(parts)


@dataclass(frozen=True)
class Option(Generic[T]):
    name: str  # without the --autotune- prefix
    help: str
    parse: Callable[[str], T]
    default: T
    flag: bool = False
    metavar: str | None = None
    #: the backend that reads this option (its value lands in ``Settings.backend_options``)
    backend: str | None = None

    @property
    def cli(self) -> str:
        return f"--autotune-{self.name}"

    @property
    def dest(self) -> str:
        return f"autotune_{self.name.replace('-', '_')}"

    @property
    def ini(self) -> str:
        return self.dest

    @property
    def env(self) -> str:
        return self.dest.upper()


OPTIONS: tuple[Option[Any], ...] = (
    Option("mode", f"where servers run: {', '.join(MODES)}, or a mode a plugin adds (default: "
                   "sim, the embedded SGLang simulator)", _mode, "sim", metavar="MODE"),
    Option("results-dir", "directory for per-case results, server logs and genai-bench output "
                          "(default: results)", str, "results", metavar="DIR"),
    Option("storage", "directory of numbered run files for later comparison "
                      "(default: .autotune)", str, ".autotune", metavar="DIR"),
    Option("verbose", "stream server and benchmark output live to the terminal (default: off)",
           _bool, False, flag=True),
    Option("strict", "treat configurations that cannot start for a resource reason (OOM, not "
                     "enough GPUs) as errors instead of infeasible skips (default: off)",
           _bool, False, flag=True),
    Option("deploy-timeout", "seconds to wait for a server to become ready; overrides the case "
                             "(default: the case's, 600s)", _duration, None, metavar="SECONDS"),
    Option("bench-timeout", "wall-clock limit of one genai-bench process; overrides the case "
                            "(default: derived from the workload)", _duration, None,
           metavar="SECONDS"),
    Option("endpoint", "URL of a running server to benchmark in endpoint mode (default: none)",
           str, None, metavar="URL"),
    Option("gpus", "GPUs to use: 'auto' or indices such as '0,1,3' (default: auto: every GPU "
                   "NVML sees within CUDA_VISIBLE_DEVICES)", _gpus, None, metavar="LIST"),
    Option("sim-gpus", "size of the virtual GPU pool in sim mode (default: 8)", _positive_int, 8,
           metavar="N"),
    Option("sim-startup-scale", "scale the simulator's model-load and CUDA-graph capture times; "
                                "overrides the case (default: the case's)", _scale, None,
           metavar="FACTOR"),
    Option("sim-slowdown", "make every GPU step of the simulator FACTOR times slower (sim and "
                           "estimate modes), overriding the cases' sim.slowdown: plant a "
                           "regression to test a baseline gate (default: the case's, 1)",
           _scale, None, metavar="FACTOR"),
    Option("sglang-version", "the SGLang release the servers run, whose own flags (from "
                             "its ServerArgs, e.g. 0.5.5 or 0.5.23) every case is checked "
                             "against at collection (default: the docker image's version tag "
                             "in docker mode, the installed sglang in local mode; otherwise "
                             "the plugin's flag catalogue, which 0.5.5 accepts)", str, None,
           metavar="VERSION"),
    Option("image", "container image for every case in docker mode, overriding the cases' image "
                    "(default: the case's image, else lmsysorg/sglang:v0.5.5.post3-cu129-amd64)",
           str, None, metavar="IMAGE", backend="docker"),
    Option("no-pull", "docker mode: never pull images; a missing image is an error (default: pull "
                      "images that are not present)", _bool, False, flag=True, backend="docker"),
    Option("docker-shm-size", "docker mode: shared memory of each container (default: 32g)", _size,
           "32g", metavar="SIZE", backend="docker"),
    Option("docker-ulimits", "docker mode: ulimits of each container, name=soft[:hard] comma "
                             "separated, or 'none' (default: memlock=-1,stack=67108864)",
           _ulimits, "memlock=-1,stack=67108864", metavar="LIST", backend="docker"),
    Option("hf-cache", "docker mode: host directory mounted as the containers' Hugging Face cache, "
                       "or 'none' (default: $HF_HOME, else ~/.cache/huggingface)", str, None,
           metavar="DIR", backend="docker"),
    Option("ome-namespace", "ome mode: namespace of the InferenceServices, overriding the cases' "
                            "ome.namespace (default: the case's, else default)", _k8s_name, None,
           metavar="NAME", backend="ome"),
    Option("ome-kubeconfig", "ome mode: the kubeconfig file (default: $KUBECONFIG, else "
                             "~/.kube/config; inside a pod, its service account)", str, None,
           metavar="PATH", backend="ome"),
    Option("ome-context", "ome mode: the kubeconfig context (default: its current context)",
           str, None, metavar="NAME", backend="ome"),
    Option("ome-access", "ome mode: how the benchmark reaches a server: port-forward (through "
                         "the API server, from anywhere), service (the URL OME publishes; "
                         "pytest runs in the cluster), or auto (default: auto: service inside a "
                         "pod, else port-forward)", _access, "auto", metavar="MODE",
           backend="ome"),
    Option("ome-runtime", "ome mode: the ClusterServingRuntime of every case, overriding the "
                          "cases' ome.runtime (default: the case's, else OME selects one)",
           _k8s_name, None, metavar="NAME", backend="ome"),
    Option("ome-render", "write each configuration's InferenceService manifest (YAML, "
                         "kubectl-apply-able, one file per configuration) to DIR and exit "
                         "without deploying (default: deploy)", str, None, metavar="DIR",
           backend="ome"),
    Option("max-parallel", "ome mode: the most InferenceServices this machine's runs hold at "
                           "once, across xdist workers (default: one per worker)",
           _positive_int, None, metavar="N", backend="ome"),
    Option("search", "the search strategy of every case: grid, random, optuna (pip install "
                     "'pytest-autotune[search]'), or one a plugin adds; overrides the case's "
                     "search.strategy (default: the case's, else grid)", _strategy, None,
           metavar="NAME"),
    Option("trials", "the trial budget of every case: how many configurations random and "
                     "optuna measure, the first N of a grid; overrides the case's search.trials "
                     "(default: the case's, else 10 for random and optuna and the whole grid)",
           _positive_int, None, metavar="N"),
    Option("study", "where the optuna strategy keeps its studies (one per case, named after "
                    "it): an Optuna storage URL such as sqlite:///study.db, or a journal file's "
                    "path; an existing study is resumed (default: study.log in the run's "
                    "directory under the results directory)", str, None, metavar="URL"),
    Option("shortlist", "plan first: estimate every configuration of each case's space in "
                        "estimate mode (virtual time, seconds), then deploy and measure only the "
                        "K best in the chosen mode; both stages are in the report (default: "
                        "measure every configuration the strategy plans)", _positive_int, None,
           metavar="K"),
    Option("repeats", "benchmark passes per workload point on the running server; with racing "
                      "(the default) the most a configuration tied with the leader gets "
                      "(default: the case's workload.repeats, else 3 in a run gated on a "
                      "baseline, else 1)", _positive_int, None,
           metavar="N"),
    Option("max-repeats", "racing: the most passes a contender gets (default: the repeats)",
           _positive_int, None, metavar="N"),
    Option("no-race", "measure every point exactly `repeats` times instead of spending extra "
                      "passes only on configurations still tied with the leader (default: race; "
                      "a run gated on a baseline never races)",
           _bool, False, flag=True),
    Option("no-prune", "measure every workload point instead of pruning: once a hard SLO such as "
                       "ttft.p99 <= 200ms is missed at one concurrency of a scenario, its higher "
                       "concurrencies are reported as pruned, not measured (default: prune; a run "
                       "gated on a baseline or with repeats above 1 never prunes)",
           _bool, False, flag=True),
    Option("noise-floor", "run-to-run noise one pass cannot see, added to every interval: "
                          "PCT for throughputs and central latencies (tail latencies 2.5 × "
                          "that), or CENTRAL,TAIL (default: 2%,5%)", _noise_floor, (0.02, 0.05),
           metavar="PCT"),
    Option("baseline", "gate this run against a stored one of the same kind (estimate, "
                       "simulator or real server): a run number, latest-complete (the newest "
                       "complete run of that kind that passed its own gate), or a run file's "
                       "path (a repository can commit one); items fail on significant "
                       "regressions beyond the threshold (default: no gate)", str,
           None, metavar="REF"),
    Option("regression-threshold", "the smallest significant change that fails the baseline "
                                   "gate, e.g. 5% (default: 5%)", _ratio, 0.05, metavar="PCT"),
    Option("baseline-allow-missing", "do not fail the gate on cases, configurations or points "
                                     "that only one of the two runs has (default: fail)",
           _bool, False, flag=True),
    Option("html", "write the HTML report (charts and tables, self-contained) to PATH, or "
                   "'none' (default: report.html in the run's directory under the results "
                   "directory)", str, None, metavar="PATH"),
    Option("progress", "live status of the points being benchmarked (requests done, elapsed "
                       "time, p50 TTFT): 'auto' redraws a line per running item in place on a "
                       "terminal, else prints 'lines'; 'lines' prints a line per running item "
                       "every 30 s; 'off' shows nothing (default: auto)", _progress, "auto",
           metavar="MODE"),
    Option("markdown", "write a Markdown summary of the run to PATH; with $GITHUB_STEP_SUMMARY "
                       "set it is also appended there (default: none)", str, None,
           metavar="PATH"),
    Option("benchmark-json", "write every item's headline metrics in pytest-benchmark's JSON "
                             "format to PATH, for pytest-benchmark compare and benchmark "
                             "trackers (default: none)", str, None, metavar="PATH"),
    Option("lock-dir", "directory for GPU and port leases shared by every pytest process on this "
                       "machine (default: <tmp>/pytest-autotune-<uid>)", str, None, metavar="DIR"),
)
BY_DEST = {o.dest: o for o in OPTIONS}


class SettingsError(ValueError):
    """A bad option value, with where it came from (the plugin shows it as a usage error)."""


def parse(option: Option[T], raw: Any, source: str) -> T:
    """One option's value from its raw text (None: the default); ``source`` names where the
    text came from, for the error."""
    if raw is None:
        return option.default
    if option.flag and isinstance(raw, bool):
        return raw  # type: ignore[return-value]
    try:
        return option.parse(str(raw) if not isinstance(raw, bool) else raw)  # type: ignore[arg-type]
    except ValueError as exc:
        raise SettingsError(f"{source}: {exc}") from None


@dataclass(frozen=True)
class Settings:
    mode: str
    results_dir: Path
    storage: Path
    verbose: bool
    strict: bool
    deploy_timeout: float | None
    bench_timeout: float | None
    endpoint: str | None
    gpus: str | None
    sim_gpus: int
    sim_startup_scale: float | None
    lock_dir: Path
    #: ``--autotune-sim-slowdown``: overrides every case's ``sim.slowdown``
    sim_slowdown: float | None = None
    repeats: int | None = None
    max_repeats: int | None = None
    race: bool = True
    #: prune the higher concurrencies of a scenario once a hard SLO is missed (pruning.py)
    prune: bool = True
    #: (central, tail) relative run-to-run noise (one standard deviation)
    noise_floor: tuple[float, float] = (0.02, 0.05)
    baseline: str | None = None
    regression_threshold: float = 0.05
    baseline_allow_missing: bool = False
    markdown: Path | None = None
    #: the HTML report's path (None: beside the run's logs), and whether it is written
    html: Path | None = None
    html_enabled: bool = True
    #: ``--autotune-progress``: auto, lines or off
    progress: str = "auto"
    benchmark_json: Path | None = None
    #: ``--autotune-search``, ``--autotune-trials``: override every case's search block
    search: str | None = None
    trials: int | None = None
    #: ``--autotune-study``: an Optuna storage URL or journal file path (None: the run's own)
    study: str | None = None
    #: ``--autotune-shortlist``: measure only the K best configurations by estimate
    shortlist: int | None = None
    #: ``--autotune-sglang-version``: check cases against this release's own flags
    sglang_version: str | None = None
    #: options a single backend reads, by option name without the prefix (``docker-shm-size``)
    backend_options: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_values(cls, values: Mapping[str, Any], root: Path) -> Settings:
        """Settings from every option's parsed value (by ``dest``); relative paths are taken
        from ``root`` (pytest's rootdir)."""

        def path(value: str) -> Path:
            p = Path(value).expanduser()
            return p if p.is_absolute() else root / p

        lock = values["autotune_lock_dir"]
        mode = values["autotune_mode"]
        endpoint = values["autotune_endpoint"]
        if endpoint is not None and not endpoint.startswith(("http://", "https://")):
            raise SettingsError(f"--autotune-endpoint must be an http(s) URL, got {endpoint!r}")
        return cls(
            mode=mode,
            results_dir=path(values["autotune_results_dir"]),
            storage=path(values["autotune_storage"]),
            verbose=values["autotune_verbose"],
            strict=values["autotune_strict"],
            deploy_timeout=values["autotune_deploy_timeout"],
            bench_timeout=values["autotune_bench_timeout"],
            endpoint=endpoint,
            gpus=values["autotune_gpus"],
            sim_gpus=values["autotune_sim_gpus"],
            sim_startup_scale=values["autotune_sim_startup_scale"],
            sim_slowdown=values["autotune_sim_slowdown"],
            lock_dir=Path(lock).expanduser() if lock
            else Path(tempfile.gettempdir()) / f"pytest-autotune-{os.getuid()}",
            repeats=values["autotune_repeats"],
            max_repeats=values["autotune_max_repeats"],
            race=not values["autotune_no_race"],
            prune=not values["autotune_no_prune"],
            noise_floor=values["autotune_noise_floor"],
            baseline=values["autotune_baseline"],
            regression_threshold=values["autotune_regression_threshold"],
            baseline_allow_missing=values["autotune_baseline_allow_missing"],
            markdown=path(values["autotune_markdown"]) if values["autotune_markdown"] else None,
            html=path(values["autotune_html"])
            if values["autotune_html"] not in (None, "", "none") else None,
            html_enabled=values["autotune_html"] != "none",
            progress=values["autotune_progress"],
            benchmark_json=path(values["autotune_benchmark_json"])
            if values["autotune_benchmark_json"] else None,
            search=values["autotune_search"],
            trials=values["autotune_trials"],
            study=values["autotune_study"] or None,
            shortlist=values["autotune_shortlist"],
            sglang_version=values["autotune_sglang_version"] or None,
            backend_options={o.name: values[o.dest] for o in OPTIONS if o.backend},
        )

    def backend_option(self, name: str) -> Any:
        """A backend's own option (``settings.backend_option("docker-shm-size")``)."""
        if name not in self.backend_options:
            raise KeyError(f"no backend option --autotune-{name}")
        return self.backend_options[name]
