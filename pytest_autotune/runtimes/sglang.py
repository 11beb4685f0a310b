"""SGLang: the catalogue of tuning-relevant ``sglang.launch_server`` flags, key normalisation,
launch commands and readiness endpoints.

Flag names follow SGLang 0.5.5 (``sglang/srt/server_args.py``). Keys in a case may be written
with dashes or underscores, with or without ``--``, as an alias (``tensor-parallel-size``,
``mem_frac``) or as an unambiguous prefix, as SGLang's argparse accepts (``mem-frac``).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..values import FlagValue, format_value

READINESS_PATHS = ("/health", "/v1/models")
DEFAULT_LAUNCHER = ("python3", "-m", "sglang.launch_server")
DEFAULT_IMAGE = "lmsysorg/sglang:v0.5.5.post3-cu129-amd64"
DEFAULT_PORT = 30000


@dataclass(frozen=True, slots=True)
class Flag:
    name: str
    kind: type  # int, float, str, bool (store_true) or list (nargs=+ ints)
    help: str = ""
    choices: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    #: -1 is a legal sentinel (e.g. chunked-prefill-size -1 disables chunking)
    allow_minus_one: bool = False

    def coerce(self, value: object) -> FlagValue:
        """Check and convert one value; raises ValueError naming what is allowed."""
        if self.kind is bool:
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("true", "false"):
                return value.lower() == "true"
            raise ValueError(f"--{self.name} is an on/off flag: use true or false, got {value!r}")
        if self.kind is int or self.kind is list:
            if isinstance(value, bool) or not isinstance(value, (int, str)):
                raise ValueError(f"--{self.name} takes an integer, got {value!r}")
            try:
                number: FlagValue = int(value)
            except ValueError:
                raise ValueError(f"--{self.name} takes an integer, got {value!r}") from None
        elif self.kind is float:
            if isinstance(value, bool) or not isinstance(value, (int, float, str)):
                raise ValueError(f"--{self.name} takes a number, got {value!r}")
            try:
                number = float(value)
            except ValueError:
                raise ValueError(f"--{self.name} takes a number, got {value!r}") from None
        else:
            if isinstance(value, bool) or not isinstance(value, (str, int, float)):
                raise ValueError(f"--{self.name} takes a string, got {value!r}")
            text = str(value)
            if self.choices and text not in self.choices:
                hint = difflib.get_close_matches(text, self.choices, n=1)
                extra = f" (did you mean {hint[0]!r}?)" if hint else ""
                raise ValueError(
                    f"--{self.name} must be one of {', '.join(self.choices)}; got {text!r}{extra}"
                )
            return text
        assert isinstance(number, (int, float))
        if self.allow_minus_one and number == -1:
            return number
        if self.minimum is not None and number < self.minimum:
            raise ValueError(f"--{self.name} must be ≥ {self.minimum:g}, got {value!r}")
        if self.maximum is not None and number > self.maximum:
            raise ValueError(f"--{self.name} must be ≤ {self.maximum:g}, got {value!r}")
        return number


def _f(name: str, kind: type, help: str = "", **kw: object) -> Flag:
    return Flag(name, kind, help, **kw)  # type: ignore[arg-type]


_ATTN = ("triton", "torch_native", "flex_attention", "nsa", "cutlass_mla", "fa3", "fa4",
         "flashinfer", "flashmla", "trtllm_mla", "trtllm_mha", "dual_chunk_flash_attn", "aiter",
         "wave", "intel_amx", "ascend", "intel_xpu")
_QUANT = ("awq", "fp8", "gptq", "marlin", "gptq_marlin", "awq_marlin", "bitsandbytes", "gguf",
          "modelopt", "modelopt_fp8", "modelopt_fp4", "petit_nvfp4", "w8a8_int8", "w8a8_fp8",
          "moe_wna16", "qoq", "w4afp8", "mxfp4", "auto-round", "compressed-tensors")

FLAGS: tuple[Flag, ...] = (
    _f("tp-size", int, "tensor-parallel GPUs", aliases=("tensor-parallel-size", "tp"), minimum=1),
    _f("dp-size", int, "data-parallel replicas", aliases=("data-parallel-size", "dp"), minimum=1),
    _f("pp-size", int, "pipeline-parallel stages", aliases=("pipeline-parallel-size", "pp"),
       minimum=1),
    _f("ep-size", int, "expert-parallel size", aliases=("expert-parallel-size", "ep"), minimum=1),
    _f("load-balance-method", str, "DP load balancing",
       choices=("round_robin", "shortest_queue", "minimum_tokens")),
    _f("mem-fraction-static", float, "share of GPU memory for weights + KV pool",
       aliases=("mem-frac", "mem-fraction"), minimum=0.01, maximum=0.99),
    _f("max-running-requests", int, "cap on the decode batch", minimum=1),
    _f("max-queued-requests", int, "cap on the waiting queue", minimum=1),
    _f("max-total-tokens", int, "KV pool size in tokens", minimum=1),
    _f("chunked-prefill-size", int, "prefill chunk in tokens (-1 disables)", minimum=1,
       allow_minus_one=True),
    _f("max-prefill-tokens", int, "token budget of one prefill batch", minimum=1),
    _f("schedule-policy", str, "waiting-queue order",
       choices=("lpm", "random", "fcfs", "dfs-weight", "lof", "priority")),
    _f("schedule-conservativeness", float, "admission caution (higher: fewer retractions)",
       minimum=0.0),
    _f("num-reserved-decode-tokens", int, "decode tokens reserved per request at admission",
       minimum=0),
    _f("enable-priority-scheduling", bool, "serve requests by their priority field"),
    _f("cuda-graph-max-bs", int, "largest decode batch replayed as a CUDA graph", minimum=1),
    _f("cuda-graph-bs", list, "explicit CUDA-graph batch sizes", minimum=1),
    _f("disable-cuda-graph", bool, "run every batch eagerly"),
    _f("disable-cuda-graph-padding", bool),
    _f("enable-torch-compile", bool),
    _f("torch-compile-max-bs", int, minimum=1),
    _f("attention-backend", str, choices=_ATTN),
    _f("prefill-attention-backend", str, choices=_ATTN),
    _f("decode-attention-backend", str, choices=_ATTN),
    _f("sampling-backend", str, choices=("flashinfer", "pytorch")),
    _f("kv-cache-dtype", str, "KV cache precision",
       choices=("auto", "fp8_e5m2", "fp8_e4m3", "bf16", "bfloat16", "fp4_e2m1")),
    _f("quantization", str, "weight quantization", choices=_QUANT),
    _f("dtype", str, choices=("auto", "half", "float16", "bfloat16", "float", "float32")),
    _f("disable-radix-cache", bool, "turn prefix caching off"),
    _f("radix-eviction-policy", str, "which prefix-cache entries are evicted first",
       choices=("lru", "lfu")),
    _f("enable-hierarchical-cache", bool, "spill the prefix cache to host memory (HiCache)"),
    _f("hicache-ratio", float, "host KV pool size as a multiple of the GPU pool (must exceed 1)",
       minimum=1.0),
    _f("hicache-size", int, "host KV pool in GB (overrides hicache-ratio; 0: use the ratio)",
       minimum=0),
    _f("hicache-write-policy", str, "when GPU KV pages are copied to host memory",
       choices=("write_back", "write_through", "write_through_selective")),
    _f("stream-interval", int, "tokens per streamed chunk", minimum=1),
    _f("enable-mixed-chunk", bool, "mix prefill chunks into decode batches"),
    _f("speculative-algorithm", str, choices=("EAGLE", "EAGLE3", "NEXTN", "STANDALONE", "NGRAM")),
    _f("speculative-draft-model-path", str, aliases=("speculative-draft-model",)),
    _f("speculative-num-steps", int, minimum=1),
    _f("speculative-eagle-topk", int, minimum=1),
    _f("speculative-num-draft-tokens", int, minimum=1),
    _f("speculative-accept-threshold-single", float,
       "accept a draft token whose target probability exceeds this", minimum=0.0, maximum=1.0),
    _f("speculative-accept-threshold-acc", float,
       "raise a draft token's accept probability p to min(1, p / this)", minimum=0.0,
       maximum=1.0),
    _f("enable-dp-attention", bool),
    _f("context-length", int, minimum=1),
    _f("page-size", int, minimum=1),
    _f("num-continuous-decode-steps", int, minimum=1),
    _f("disable-overlap-schedule", bool),
    _f("enable-two-batch-overlap", bool),
    _f("enable-piecewise-cuda-graph", bool, "CUDA graphs for prefill, piece by piece"),
    _f("disable-custom-all-reduce", bool, "NCCL's all-reduce instead of SGLang's kernel"),
    _f("moe-runner-backend", str, "MoE expert kernels",
       choices=("auto", "deep_gemm", "triton", "triton_kernel", "flashinfer_trtllm",
                "flashinfer_cutlass", "flashinfer_mxfp4", "flashinfer_cutedsl", "cutlass")),
    _f("moe-a2a-backend", str, "MoE all-to-all dispatch", choices=("none", "deepep", "mooncake")),
    _f("enable-eplb", bool, "rebalance experts across GPUs (expert-parallel load balancer)"),
    _f("enable-metrics", bool, "serve /metrics"),
    _f("load-format", str, choices=("auto", "pt", "safetensors", "npcache", "dummy", "gguf",
                                    "bitsandbytes", "layered", "sharded_state", "remote",
                                    "remote_instance")),
    _f("trust-remote-code", bool),
    _f("random-seed", int),
    _f("skip-server-warmup", bool),
    _f("watchdog-timeout", float, minimum=0.0),
    _f("enable-cache-report", bool),
    _f("allow-auto-truncate", bool),
    _f("base-gpu-id", int, minimum=0),
    _f("gpu-id-step", int, minimum=1),
    _f("log-requests", bool),
    _f("log-level", str, choices=("debug", "info", "warning", "error", "critical")),
    _f("enable-cudagraph-gc", bool),
)

#: Set by the backend for every deployment; a case may not tune them.
MANAGED = {
    "model-path": "set it as model.path in the case",
    "host": "the backend chooses the listen address",
    "port": "the backend allocates a free port",
    "served-model-name": "set it as model.served_name in the case",
    "api-key": "pass secrets through the environment (env: [NAME]) and the case's api_key_env",
    "tokenizer-path": "set it as model.tokenizer in the case",
}

BY_NAME: dict[str, Flag] = {f.name: f for f in FLAGS}
_LOOKUP: dict[str, Flag] = {}
for _flag in FLAGS:
    _LOOKUP[_flag.name] = _flag
    for _alias in _flag.aliases:
        _LOOKUP[_alias] = _flag
# the earlier tool's underscore spellings that are not simple prefixes
_LOOKUP["tpsize"] = BY_NAME["tp-size"]


def _spelling(key: str) -> str:
    return key.strip().lstrip("-").replace("_", "-").lower()


def lookup(key: str) -> Flag:
    """The flag a case key names; raises KeyError with the closest known flag."""
    spelled = _spelling(key)
    if spelled in MANAGED:
        raise KeyError(f"--{spelled} cannot be tuned: {MANAGED[spelled]}")
    if spelled in _LOOKUP:
        return _LOOKUP[spelled]
    # argparse accepts any unambiguous prefix of a long option (OME runtimes pass --mem-frac)
    matches = {f.name for name, f in _LOOKUP.items() if name.startswith(spelled)}
    if len(matches) == 1 and len(spelled) >= 3:
        return BY_NAME[matches.pop()]
    if len(matches) > 1:
        raise KeyError(
            f"--{spelled} is ambiguous: it could be {', '.join('--' + m for m in sorted(matches))}"
        )
    close = difflib.get_close_matches(spelled, list(_LOOKUP), n=1, cutoff=0.6)
    hint = f"; did you mean --{_LOOKUP[close[0]].name}?" if close else ""
    raise KeyError(
        f"unknown SGLang flag --{spelled}{hint} (flags that are not in the catalogue can be "
        "passed verbatim with extra_args)"
    )


def normalize(key: str, value: object) -> tuple[str, FlagValue]:
    """``("mem_frac", "0.8")`` → ``("mem-fraction-static", 0.8)``; ValueError/KeyError on misuse."""
    flag = lookup(key)
    return flag.name, flag.coerce(value)


def flag_args(flags: Sequence[tuple[str, FlagValue]]) -> list[str]:
    """argv for flags: booleans become bare switches (false is dropped)."""
    argv: list[str] = []
    for name, value in flags:
        flag = BY_NAME.get(name)
        if isinstance(value, bool) or (flag is not None and flag.kind is bool):
            if value:
                argv.append(f"--{name}")
            continue
        argv += [f"--{name}", format_value(value) if isinstance(value, float) else str(value)]
    return argv


def launch_argv(
    *,
    model_path: str,
    host: str,
    port: int,
    flags: Sequence[tuple[str, FlagValue]],
    extra_args: Sequence[str] = (),
    served_model_name: str | None = None,
    launcher: Sequence[str] = DEFAULT_LAUNCHER,
) -> list[str]:
    """The full ``sglang.launch_server`` command line as an argv list (never a shell string)."""
    argv = [*launcher, "--model-path", model_path, "--host", host, "--port", str(port)]
    if served_model_name:
        argv += ["--served-model-name", served_model_name]
    return argv + flag_args(flags) + list(extra_args)


def gpus_needed(flags: Mapping[str, FlagValue]) -> int:
    """GPUs one server occupies: tp × dp × pp; with ``--enable-dp-attention`` the DP ranks
    split the TP group (``--tp 8 --dp 8 --enable-dp-attention`` runs on 8 GPUs): tp × pp."""
    names = ("tp-size", "pp-size") if flags.get("enable-dp-attention") is True else (
        "tp-size", "dp-size", "pp-size")
    total = 1
    for name in names:
        value = flags.get(name, 1)
        total *= int(value) if not isinstance(value, bool) else 1
    return total


#: SGLang 0.5.5's static defaults of catalogue flags (server_args.py); a flag not listed here
#: defaults to a value SGLang computes (memory fraction, chunk size, CUDA-graph batch, ...) or to
#: off (switches), so any value a case sets for it counts as a choice
DEFAULTS: dict[str, FlagValue] = {
    "tp-size": 1, "dp-size": 1, "pp-size": 1, "ep-size": 1,
    "load-balance-method": "round_robin", "schedule-policy": "fcfs",
    "schedule-conservativeness": 1.0, "max-prefill-tokens": 16384, "stream-interval": 1,
    "kv-cache-dtype": "auto", "dtype": "auto", "num-continuous-decode-steps": 1,
    "page-size": 1, "load-format": "auto", "watchdog-timeout": 300.0,
    "base-gpu-id": 0, "gpu-id-step": 1, "log-level": "info",
}


def non_default_flags(flags: Mapping[str, FlagValue]) -> list[str]:
    """The flags whose value differs from SGLang's default (switches: those turned on)."""
    chosen = []
    for name, value in flags.items():
        flag = BY_NAME.get(name)
        if (flag is not None and flag.kind is bool) or isinstance(value, bool):
            if value:
                chosen.append(name)
            continue
        default = DEFAULTS.get(name)
        if default is None or value != default:
            chosen.append(name)
    return chosen
