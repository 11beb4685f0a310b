"""Command line of the simulator: ``sglang.launch_server``'s flags plus ``--sim-*``.

The parser mirrors SGLang's ``ServerArgs.add_cli_args`` closely enough that argparse behaves the
same way: the same flag names and aliases, the same abbreviation matching (``--mem-frac``,
``--tp``), exit status 2 with a usage message for unknown flags. Flags the simulator does not
model are accepted and ignored, because a configuration that SGLang accepts must deploy here too.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

__all__ = ["SCHEDULE_POLICIES", "build_parser", "parse_args"]

SCHEDULE_POLICIES = ("lpm", "random", "fcfs", "dfs-weight", "lof", "priority")
ATTENTION_BACKENDS = (
    "triton", "torch_native", "flex_attention", "nsa", "cutlass_mla", "fa3", "fa4", "flashinfer",
    "flashmla", "trtllm_mla", "trtllm_mha", "dual_chunk_flash_attn", "aiter", "wave",
    "intel_amx", "ascend", "intel_xpu",
)
KV_CACHE_DTYPES = ("auto", "fp8_e5m2", "fp8_e4m3", "bf16", "bfloat16", "fp4_e2m1")
QUANTIZATIONS = (
    "awq", "fp8", "gptq", "marlin", "gptq_marlin", "awq_marlin", "bitsandbytes", "gguf",
    "modelopt", "modelopt_fp8", "modelopt_fp4", "petit_nvfp4", "w8a8_int8", "w8a8_fp8",
    "moe_wna16", "qoq", "w4afp8", "mxfp4", "auto-round", "compressed-tensors",
)
DTYPES = ("auto", "half", "float16", "bfloat16", "float", "float32")
LOAD_FORMATS = (
    "auto", "pt", "safetensors", "npcache", "dummy", "sharded_state", "gguf", "bitsandbytes",
    "layered", "remote", "remote_instance", "fastsafetensors", "private",
)
LOAD_BALANCE = ("round_robin", "shortest_queue", "minimum_tokens", "auto", "total_requests",
                "total_tokens", "follow_bootstrap_room")
SIM_GPUS = ("h100", "h200", "a100-80g", "h20")

# Flags SGLang accepts that do not change what the simulator models: (flag, kind, extra aliases).
# kind: "s" string, "i" int, "f" float, "b" store_true, "n" nargs="*" strings.
_IGNORED: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("--tokenizer-mode", "s", ()), ("--tokenizer-worker-num", "i", ()),
    ("--skip-tokenizer-init", "b", ()), ("--model-loader-extra-config", "s", ()),
    ("--is-embedding", "b", ()), ("--enable-multimodal", "b", ()), ("--revision", "s", ()),
    ("--model-impl", "s", ()), ("--quantization-param-path", "s", ()),
    ("--enable-fp32-lm-head", "b", ()), ("--warmups", "s", ()), ("--nccl-port", "i", ()),
    ("--enable-priority-scheduling", "b", ()), ("--schedule-low-priority-values-first", "b", ()),
    ("--priority-scheduling-preemption-threshold", "i", ()), ("--hybrid-kvcache-ratio", "f", ()),
    ("--swa-full-tokens-ratio", "f", ()), ("--disable-hybrid-swa-memory", "b", ()),
    ("--radix-eviction-policy", "s", ()), ("--device", "s", ()),
    ("--pp-size", "i", ("--pipeline-parallel-size",)), ("--pp-max-micro-batch-size", "i", ()),
    ("--stream-output", "b", ()), ("--constrained-json-whitespace-pattern", "s", ()),
    ("--dist-timeout", "i", ()), ("--gpu-id-step", "i", ()), ("--sleep-on-idle", "b", ()),
    ("--log-level-http", "s", ()), ("--log-requests-level", "i", ()),
    ("--crash-dump-folder", "s", ()), ("--show-time-cost", "b", ()),
    ("--enable-metrics-for-all-schedulers", "b", ()), ("--bucket-time-to-first-token", "n", ()),
    ("--bucket-inter-token-latency", "n", ()), ("--bucket-e2e-request-latency", "n", ()),
    ("--collect-tokens-histogram", "b", ()), ("--decode-log-interval", "i", ()),
    ("--enable-request-time-stats-logging", "b", ()), ("--kv-events-config", "s", ()),
    ("--enable-trace", "b", ()), ("--otlp-traces-endpoint", "s", ()),
    ("--weight-version", "s", ()), ("--chat-template", "s", ()),
    ("--completion-template", "s", ()), ("--file-storage-path", "s", ()),
    ("--reasoning-parser", "s", ()), ("--tool-call-parser", "s", ()), ("--tool-server", "s", ()),
    ("--sampling-defaults", "s", ()), ("--dist-init-addr", "s", ("--nccl-init-addr",)),
    ("--nnodes", "i", ()), ("--node-rank", "i", ()), ("--json-model-override-args", "s", ()),
    ("--preferred-sampling-params", "s", ()), ("--enable-lora", "b", ()),
    ("--max-lora-rank", "i", ()), ("--lora-target-modules", "n", ()), ("--lora-paths", "n", ()),
    ("--max-loras-per-batch", "i", ()), ("--max-loaded-loras", "i", ()),
    ("--lora-backend", "s", ()), ("--prefill-attention-backend", "s", ()),
    ("--decode-attention-backend", "s", ()), ("--grammar-backend", "s", ()),
    ("--mm-attention-backend", "s", ()),
    ("--speculative-draft-model-path", "s", ("--speculative-draft-model",)),
    ("--speculative-draft-model-revision", "s", ()), ("--speculative-num-steps", "i", ()),
    ("--speculative-eagle-topk", "i", ()), ("--speculative-num-draft-tokens", "i", ()),
    ("--speculative-accept-threshold-single", "f", ()),
    ("--speculative-accept-threshold-acc", "f", ()), ("--speculative-token-map", "s", ()),
    ("--ep-size", "i", ("--expert-parallel-size", "--ep")), ("--moe-a2a-backend", "s", ()),
    ("--moe-runner-backend", "s", ()), ("--enable-eplb", "b", ()),
    ("--enable-hierarchical-cache", "b", ()), ("--hicache-ratio", "f", ()),
    ("--hicache-size", "i", ()), ("--hicache-write-policy", "s", ()),
    ("--hicache-io-backend", "s", ()), ("--hicache-storage-backend", "s", ()),
    ("--enable-profile-cuda-graph", "b", ()), ("--enable-cudagraph-gc", "b", ()),
    ("--enable-nccl-nvls", "b", ()), ("--enable-symm-mem", "b", ()),
    ("--enable-tokenizer-batch-encode", "b", ()), ("--disable-outlines-disk-cache", "b", ()),
    ("--disable-custom-all-reduce", "b", ()), ("--enable-mscclpp", "b", ()),
    ("--enable-dp-attention", "b", ()), ("--enable-dp-lm-head", "b", ()),
    ("--enable-two-batch-overlap", "b", ()), ("--torchao-config", "s", ()),
    ("--enable-nan-detection", "b", ()), ("--enable-p2p-check", "b", ()),
    ("--triton-attention-reduce-in-fp32", "b", ()), ("--triton-attention-num-kv-splits", "i", ()),
    ("--delete-ckpt-after-loading", "b", ()), ("--enable-memory-saver", "b", ()),
    ("--allow-auto-truncate", "b", ()), ("--enable-custom-logit-processor", "b", ()),
    ("--disable-chunked-prefix-cache", "b", ()), ("--enable-return-hidden-states", "b", ()),
    ("--scheduler-recv-interval", "i", ()), ("--numa-node", "n", ()),
    ("--enable-deterministic-inference", "b", ()), ("--disaggregation-mode", "s", ()),
    ("--cuda-graph-max-bs-prefill", "i", ()), ("--cuda-graph-bs-prefill", "n", ()),
    ("--disable-prefill-cuda-graph", "b", ()), ("--enable-piecewise-cuda-graph", "b", ()),
    ("--disable-piecewise-cuda-graph", "b", ()),
)

_TYPES: dict[str, type] = {"s": str, "i": int, "f": float}


def unmodelled_flags(args: argparse.Namespace) -> list[str]:
    """The flags a launch command set that the simulator accepts without modelling them."""
    return sorted("--" + dest.removeprefix("ignored_").replace("_", "-")
                  for dest, value in vars(args).items()
                  if dest.startswith("ignored_") and value not in (None, False, []))


def _add_ignored(group: argparse._ArgumentGroup) -> None:
    from .unmodelled import UNMODELLED

    for flag, kind, aliases in (*_IGNORED, *UNMODELLED):
        names = (flag, *aliases)
        dest = "ignored_" + flag.lstrip("-").replace("-", "_")
        if kind == "b":
            group.add_argument(*names, dest=dest, action="store_true", help=argparse.SUPPRESS)
        elif kind == "n":
            group.add_argument(*names, dest=dest, nargs="*", help=argparse.SUPPRESS)
        else:
            group.add_argument(*names, dest=dest, type=_TYPES[kind], help=argparse.SUPPRESS)


def build_parser() -> argparse.ArgumentParser:
    """The launch_server-compatible parser (``allow_abbrev`` stays on, as in SGLang)."""
    p = argparse.ArgumentParser(
        prog="python -m pytest_autotune.sim",
        description="pytest-autotune's SGLang simulator (not SGLang): an OpenAI-compatible server "
        "that accepts sglang.launch_server's flags and behaves like SGLang on a chosen GPU.",
    )
    m = p.add_argument_group("model and tokenizer")
    m.add_argument("--model-path", "--model", type=str, required=True,
                   help="model path or hub id")
    m.add_argument("--tokenizer-path", type=str, default=None)
    m.add_argument("--load-format", type=str, default="auto", choices=LOAD_FORMATS)
    m.add_argument("--trust-remote-code", action="store_true")
    m.add_argument("--context-length", type=int, default=None)
    m.add_argument("--dtype", type=str, default="auto", choices=DTYPES)
    m.add_argument("--quantization", type=str, default=None, choices=QUANTIZATIONS)
    m.add_argument("--kv-cache-dtype", type=str, default="auto", choices=KV_CACHE_DTYPES)
    m.add_argument("--served-model-name", type=str, default=None)
    m.add_argument("--download-dir", type=str, default=None)

    h = p.add_argument_group("HTTP server")
    h.add_argument("--host", type=str, default="127.0.0.1")
    h.add_argument("--port", type=int, default=30000)
    h.add_argument("--skip-server-warmup", action="store_true")
    h.add_argument("--api-key", type=str, default=None)
    h.add_argument("--enable-cache-report", action="store_true")
    h.add_argument("--config", type=str, default=None, help="read flags from a flat YAML file")

    s = p.add_argument_group("memory and scheduling")
    s.add_argument("--mem-fraction-static", type=float, default=None)
    s.add_argument("--max-running-requests", type=int, default=None)
    s.add_argument("--max-queued-requests", type=int, default=None)
    s.add_argument("--max-total-tokens", type=int, default=None)
    s.add_argument("--chunked-prefill-size", type=int, default=None)
    s.add_argument("--max-prefill-tokens", type=int, default=16384)
    s.add_argument("--schedule-policy", type=str, default="fcfs", choices=SCHEDULE_POLICIES)
    s.add_argument("--schedule-conservativeness", type=float, default=1.0)
    s.add_argument("--page-size", type=int, default=None)
    s.add_argument("--disable-radix-cache", action="store_true")
    s.add_argument("--enable-mixed-chunk", action="store_true")
    s.add_argument("--num-continuous-decode-steps", type=int, default=1)
    s.add_argument("--disable-overlap-schedule", action="store_true")
    s.add_argument("--stream-interval", type=int, default=1)

    r = p.add_argument_group("parallelism and runtime")
    r.add_argument("--tp-size", "--tensor-parallel-size", dest="tp_size", type=int, default=1)
    r.add_argument("--dp-size", "--data-parallel-size", dest="dp_size", type=int, default=1)
    r.add_argument("--load-balance-method", type=str, default="round_robin", choices=LOAD_BALANCE)
    r.add_argument("--base-gpu-id", type=int, default=0)
    r.add_argument("--random-seed", type=int, default=None)
    r.add_argument("--watchdog-timeout", type=float, default=300)

    k = p.add_argument_group("kernels and CUDA graphs")
    k.add_argument("--attention-backend", type=str, default=None, choices=ATTENTION_BACKENDS)
    k.add_argument("--sampling-backend", type=str, default=None,
                   choices=("flashinfer", "pytorch", "ascend"))
    k.add_argument("--cuda-graph-max-bs", type=int, default=None)
    k.add_argument("--cuda-graph-max-bs-decode", dest="cuda_graph_max_bs_decode", type=int,
                   default=None)
    k.add_argument("--cuda-graph-bs", type=int, nargs="+", default=None)
    k.add_argument("--cuda-graph-bs-decode", dest="cuda_graph_bs_decode", type=int, nargs="+",
                   default=None)
    k.add_argument("--disable-cuda-graph", action="store_true")
    k.add_argument("--disable-decode-cuda-graph", action="store_true")
    k.add_argument("--cuda-graph-backend-decode", type=str, default=None,
                   choices=("full", "breakable", "disabled"))
    k.add_argument("--disable-cuda-graph-padding", action="store_true")
    k.add_argument("--enable-torch-compile", action="store_true")
    k.add_argument("--torch-compile-max-bs", type=int, default=32)
    k.add_argument("--speculative-algorithm", type=str, default=None,
                   choices=("EAGLE", "EAGLE3", "NEXTN", "STANDALONE", "NGRAM"))

    lg = p.add_argument_group("logging and metrics")
    lg.add_argument("--log-level", type=str, default="info")
    lg.add_argument("--log-requests", action="store_true")
    lg.add_argument("--enable-metrics", action="store_true")

    ig = p.add_argument_group("accepted, not modelled")
    _add_ignored(ig)

    sim = p.add_argument_group("simulator")
    sim.add_argument("--sim-gpu", type=str, default="h100", choices=SIM_GPUS,
                     help="GPU to simulate (default: h100)")
    sim.add_argument("--sim-model", type=str, default=None,
                     help="catalogue model name or a directory holding config.json "
                     "(default: inferred from --model-path)")
    sim.add_argument("--sim-gpus-available", type=int, default=8,
                     help="GPUs visible to the server (default: 8)")
    sim.add_argument("--sim-seed", type=int, default=0, help="noise seed (default: 0)")
    sim.add_argument("--sim-noise", type=float, default=0.03,
                     help="relative step-time jitter; 0 is deterministic (default: 0.03)")
    sim.add_argument("--sim-slowdown", type=float, default=1.0,
                     help="make every GPU step this many times slower, to plant a known "
                     "regression (default: 1.0)")
    sim.add_argument("--sim-startup-scale", type=float, default=1.0,
                     help="multiplies the simulated start-up phases (default: 1.0)")
    sim.add_argument("--sim-truth-log", type=str, default=None,
                     help="write one JSON line of ground truth per request to this file")
    sim.add_argument("--sim-late-bind", action="store_true",
                     help="bind the HTTP port only after graph capture, as SGLang does "
                     "(default: bind first and answer 503 while starting)")
    return p


def _scalar(text: str) -> str:
    """A YAML scalar: a double-quoted string is JSON-escaped, a single-quoted one doubles its
    quotes, a plain one ends at a `` #`` comment."""
    if text.startswith('"'):
        end = 1
        while end < len(text):
            if text[end] == "\\":
                end += 2
                continue
            if text[end] == '"':
                break
            end += 1
        return str(json.loads(text[: end + 1]))
    if text.startswith("'"):
        body = text[1:]
        out, i = [], 0
        while i < len(body):
            if body[i] == "'":
                if body[i + 1 : i + 2] == "'":
                    out.append("'")
                    i += 2
                    continue
                break
            out.append(body[i])
            i += 1
        return "".join(out)
    return text.split(" #", 1)[0].strip()


def _read_config(path: str) -> list[str]:
    """Flags from a flat ``key: value`` YAML file (SGLang's ``--config``), before the CLI ones."""
    argv: list[str] = []
    with open(path, encoding="utf-8") as fh:
        for raw in fh:
            line = raw.strip()
            if not line or line.startswith("#") or ":" not in line:
                continue
            key, value = (part.strip() for part in line.split(":", 1))
            flag = "--" + key.replace("_", "-")
            value = _scalar(value)
            if value.lower() == "true":
                argv.append(flag)
            elif value.lower() in ("false", "null", "~", ""):
                continue
            elif value.startswith("[") and value.endswith("]"):
                argv.append(flag)
                argv.extend(v.strip().strip("'\"") for v in value[1:-1].split(",") if v.strip())
            else:
                argv.extend([flag, value])
    return argv


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse like SGLang: unknown flags exit 2 with the usage message on stderr."""
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    if args.config:
        args = parser.parse_args([*_read_config(args.config), *argv])
    if args.cuda_graph_max_bs is None:
        args.cuda_graph_max_bs = args.cuda_graph_max_bs_decode
    if args.cuda_graph_bs is None:
        args.cuda_graph_bs = args.cuda_graph_bs_decode
    if args.disable_decode_cuda_graph or args.cuda_graph_backend_decode == "disabled":
        args.disable_cuda_graph = True
    return args
