"""Resolve SGLang's automatic defaults and the memory plan of one server configuration.

Follows SGLang 0.5.5 (``server_args._handle_gpu_memory_settings``, ``model_runner.
profile_max_num_token``, ``tp_worker``), as summarised in ``reference/calibration.md`` §4 and
``tech-facts.md`` B3. Pure: no I/O, no time. :func:`resolve` turns parsed flags into a
:class:`ResolvedConfig`; start-up failures are carried in ``failure`` so the server can replay
them at the phase where SGLang would hit them.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field

from .catalog import GiB, GpuSpec, MiB, ModelShape, resolve_gpu, resolve_model

__all__ = ["ResolvedConfig", "StartupFailure", "capture_batch_sizes", "resolve"]

CUDA_CONTEXT_BYTES = int(0.55 * GiB)  # CUDA context + torch init, per GPU
TP_COMM_BYTES = int(0.30 * GiB)  # NCCL + custom all-reduce buffers when tp > 1
WORKSPACE_BYTES = int(0.60 * GiB)  # attention / cuBLAS / sampling workspaces
LOAD_BYTES_PER_S = 2.0e9  # safetensors load rate per rank (page-cached)
FP8_QUANT = {"fp8", "modelopt_fp8", "w8a8_fp8", "compressed-tensors", "modelopt"}
INT8_QUANT = {"w8a8_int8", "qoq"}
INT4_QUANT = {"awq", "gptq", "marlin", "gptq_marlin", "awq_marlin", "w4afp8", "mxfp4",
              "moe_wna16", "auto-round", "bitsandbytes", "gguf", "modelopt_fp4", "petit_nvfp4"}
SPECULATIVE = ("EAGLE", "EAGLE3", "NEXTN", "STANDALONE", "NGRAM")
# Mean accepted tokens per verify step at the default 3 draft steps (EAGLE papers report 2.5-3.5
# on chat data for Llama-3-8B; n-gram lookup accepts less).
SPEC_ACCEPT = {"EAGLE": 2.8, "EAGLE3": 3.2, "NEXTN": 2.8, "STANDALONE": 2.4, "NGRAM": 1.8}


@dataclass(frozen=True, slots=True)
class StartupFailure:
    """A start-up failure SGLang would raise, and the phase in which it raises it."""

    phase: str  # "init" | "load" | "kv" | "capture"
    kind: str  # "invalid_device" | "assertion" | "not_enough_memory" | "oom" | "value_error"
    exception: list[str]  # the traceback's last lines ("File ...", "RuntimeError: ...")
    after_sizes: int = 0  # capture: how many batch sizes were captured before the failure


@dataclass(slots=True)
class ResolvedConfig:
    """Every value the server runs with, after SGLang's automatic defaults."""

    model: ModelShape
    gpu: GpuSpec
    gpu_key: str
    model_path: str
    served_model_name: str
    tp: int
    dp: int
    mem_fraction_static: float
    chunked_prefill_size: int  # -1 = disabled
    max_prefill_tokens: int
    cuda_graph_max_bs: int
    capture_bs: list[int]
    disable_cuda_graph: bool
    disable_cuda_graph_padding: bool
    enable_torch_compile: bool
    torch_compile_max_bs: int
    schedule_policy: str
    schedule_conservativeness: float
    stream_interval: int
    enable_mixed_chunk: bool
    page_size: int
    disable_radix_cache: bool
    overlap_schedule: bool
    num_continuous_decode_steps: int
    max_queued_requests: int | None
    attention_backend: str
    sampling_backend: str
    kv_cache_dtype: str
    kv_dtype_bytes: float
    weight_dtype_bytes: float
    compute_flops: float
    context_len: int
    speculative_algorithm: str | None
    load_balance_method: str
    spec_accept: float = 1.0  # mean tokens accepted per verify step (1 = no speculation)
    spec_draft_tokens: int = 1
    spec_steps: int = 0
    # memory plan (per GPU of one replica)
    free_init_bytes: int = 0
    weights_per_gpu_bytes: int = 0
    kv_cell_bytes: int = 0
    max_total_num_tokens: int = 0
    req_pool_size: int = 0
    max_running_requests: int = 0
    graph_bytes: int = 0
    headroom_bytes: int = 0
    need_bytes: int = 0
    available_after_bytes: int = 0
    #: every step takes this many times longer (--sim-slowdown, a planted regression)
    slowdown: float = 1.0
    #: --enable-dp-attention: the dp ranks split the tp GPUs (attention data-parallel over
    #: groups of tp / dp GPUs) instead of each being a replica of tp GPUs
    dp_attention: bool = False
    # start-up timing (seconds, already multiplied by --sim-startup-scale)
    init_s: float = 0.0
    load_s: float = 0.0
    capture_s_per_size: float = 0.0
    compile_s: float = 0.0
    warmup_s: float = 0.0
    failure: StartupFailure | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def gpus(self) -> int:
        """GPUs the server occupies: tp × dp, or tp when the DP ranks split the TP group."""
        return self.tp if self.dp_attention else self.tp * self.dp

    @property
    def max_req_input_len(self) -> int:
        return min(self.context_len - 1, self.max_total_num_tokens - 1) - 5

    @property
    def capture_s(self) -> float:
        return self.capture_s_per_size * len(self.capture_bs) + self.compile_s


def default_capture_list(max_bs: int = 1024, *, speculative: bool = False,
                         disable_padding: bool = False) -> list[int]:
    """The batch sizes SGLang 0.5.5 generates up to ``max_bs``
    (``ServerArgs._generate_cuda_graph_batch_sizes``): every size without padding; a finer list
    for speculative decoding; ``max_bs`` itself only when the list reaches it."""
    if disable_padding:
        sizes = list(range(1, max_bs + 1))
    elif not speculative:
        sizes = [1, 2, 4, 8, 12, *range(16, 257, 8), *range(272, 512, 16),
                 *range(512, max_bs + 1, 32)]
    else:
        sizes = [*range(1, 9), *range(10, 33, 2), *range(40, 65, 4), *range(72, 257, 8),
                 *range(272, max_bs + 1, 16)]
    return [bs for bs in sizes if bs <= max_bs]


def capture_batch_sizes(max_bs: int, explicit: list[int] | None, pool: int, *,
                        speculative: bool = False, disable_padding: bool = False,
                        multiple_of: int = 1) -> list[int]:
    """Batch sizes SGLang captures (``cuda_graph_runner.get_batch_sizes_to_capture``): the
    generated list (or ``--cuda-graph-bs``), plus the request pool's size when the list goes
    beyond it, keeping multiples of ``multiple_of`` (two-batch overlap, DP attention) that fit
    the pool."""
    sizes = list(explicit) if explicit else default_capture_list(
        max_bs, speculative=speculative, disable_padding=disable_padding)
    if sizes and max(sizes) > pool:
        sizes.append(pool)
    return sorted({bs for bs in sizes if bs % multiple_of == 0 and 0 < bs <= pool})


def _gpu_defaults(total_mib: int, tp: int) -> tuple[int, int]:
    """(chunked_prefill_size, cuda_graph_max_bs) by GPU memory, SGLang 0.5.5."""
    big = tp >= 4
    if total_mib < 20 * 1024:
        return 2048, 8
    if total_mib < 35 * 1024:
        return 2048, 80 if big else 24
    if total_mib < 60 * 1024:
        return 4096, 160 if big else 32
    if total_mib < 160 * 1024:
        return 8192, 512 if big else 256
    return 16384, 512


def default_mem_fraction(total_mib: int, chunk: int, max_bs: int, tp: int,
                         speculative: str | None, *, max_prefill_tokens: int = 16384,
                         pp: int = 1, dp: int = 1, dp_attention: bool = False) -> float:
    """SGLang 0.5.5's ``mem_fraction_static`` (``ServerArgs._handle_gpu_memory_settings``):
    the share of GPU memory left after a reserve for activations (the prefill chunk, or the
    largest prefill without chunking), CUDA graphs, parallelism and draft models."""
    reserved = 512.0
    reserved += max(chunk if chunk > 0 else max_prefill_tokens, 2048) * 1.5
    reserved += max_bs * 2
    reserved += tp * pp / 8 * 1024
    if dp_attention:
        reserved += max_bs * dp * 3
        if max_bs > 300:
            reserved += max_bs * dp * 1.5
    if total_mib > 60 * 1024:
        reserved = max(reserved, 10240)
    if speculative == "STANDALONE":
        reserved += 6144
    elif speculative is not None and speculative != "NGRAM":
        reserved += 2048
    return round((total_mib - reserved) / total_mib, 3)


def _precision(args: argparse.Namespace, gpu: GpuSpec) -> tuple[float, float, float]:
    """(weight bytes/param, KV bytes/element, GEMM FLOP/s) from --dtype/--quantization/KV dtype."""
    weight = 4.0 if args.dtype in ("float", "float32") else 2.0
    flops = gpu.bf16_flops / (4.0 if weight == 4.0 else 1.0)
    q = args.quantization
    if q in FP8_QUANT:
        weight = 1.0
        flops = gpu.fp8_flops or gpu.bf16_flops
    elif q in INT8_QUANT:
        weight = 1.0
        flops = gpu.fp8_flops or gpu.bf16_flops * 2
    elif q in INT4_QUANT:
        weight = 0.53  # 4-bit weights plus group scales
    kv = {"fp8_e5m2": 1.0, "fp8_e4m3": 1.0, "fp4_e2m1": 0.5}.get(args.kv_cache_dtype, 2.0)
    if args.kv_cache_dtype == "auto" and weight == 4.0:
        kv = 4.0
    return weight, kv, flops


def _py(path: str, line: int, func: str, code: str) -> list[str]:
    return [f'  File "/sgl-workspace/sglang/python/sglang/srt/{path}", line {line}, in {func}',
            f"    {code}"]


def _failure_checks(cfg: ResolvedConfig, args: argparse.Namespace, gpus: int) -> None:
    if args.base_gpu_id + cfg.gpus > gpus:
        cfg.failure = StartupFailure("init", "invalid_device", [
            *_py("model_executor/model_runner.py", 386, "init_torch_distributed",
                 "torch.get_device_module(self.device).set_device(self.gpu_id)"),
            "RuntimeError: CUDA error: invalid device ordinal",
            "CUDA kernel errors might be asynchronously reported at some other API call, so the "
            "stacktrace below might be incorrect.",
            "For debugging consider passing CUDA_LAUNCH_BLOCKING=1",
        ])
        return
    m = cfg.model
    heads_ok = m.num_heads % cfg.tp == 0
    kv_ok = (m.num_kv_heads % cfg.tp == 0) if m.num_kv_heads >= cfg.tp else (
        cfg.tp % m.num_kv_heads == 0)
    if not heads_ok or not kv_ok:
        code = ("assert self.total_num_heads % tp_size == 0" if not heads_ok else
                "assert self.total_num_kv_heads % tp_size == 0")
        cfg.failure = StartupFailure("load", "assertion", [
            *_py("models/llama.py", 121, "__init__", code), "AssertionError"])
        return
    if cfg.max_total_num_tokens <= 0:
        cfg.failure = StartupFailure("kv", "not_enough_memory", [
            *_py("model_executor/model_runner.py", 1573, "init_memory_pool",
                 'raise RuntimeError('),
            "RuntimeError: Not enough memory. Please try to increase --mem-fraction-static. "
            f"Current value: {cfg.mem_fraction_static=}",
        ])
        return
    if cfg.headroom_bytes < cfg.need_bytes:
        total = cfg.gpu.total_bytes
        free = max(cfg.headroom_bytes - cfg.graph_bytes // 2, 16 * MiB)
        ask = max(cfg.need_bytes - cfg.graph_bytes // 2 - free + 64 * MiB, 20 * MiB)
        if cfg.headroom_bytes < 0:
            ask = -cfg.headroom_bytes + 20 * MiB
        oom = _oom_text(total, free, ask)
        if cfg.headroom_bytes < 0:
            cfg.failure = StartupFailure("kv", "oom", [
                *_py("mem_cache/memory_pool.py", 612, "_create_buffers", "torch.zeros("),
                f"torch.OutOfMemoryError: {oom}"])
        elif not cfg.capture_bs:
            cfg.failure = StartupFailure("warmup", "oom", [
                *_py("model_executor/model_runner.py", 2050, "forward_extend",
                     "return self.model.forward("),
                f"torch.OutOfMemoryError: {oom}"])
        else:
            cfg.failure = StartupFailure("capture", "oom", [
                *_py("model_executor/cuda_graph_runner.py", 392, "__init__", "raise Exception("),
                f"Exception: Capture cuda graph failed: {oom}", *CAPTURE_HINT])


CAPTURE_HINT = (
    "Possible solutions:",
    "1. set --mem-fraction-static to a smaller value (e.g., 0.8 or 0.7)",
    "2. set --cuda-graph-max-bs to a smaller value (e.g., 16)",
    "3. disable torch compile by not using --enable-torch-compile",
    "4. disable CUDA graph by --disable-cuda-graph. (Not recommended. Huge performance loss)",
    "Open an issue on GitHub https://github.com/sgl-project/sglang/issues/new/choose ",
)


def _oom_text(total: int, free: int, ask: int) -> str:
    used = total - free
    return (f"CUDA out of memory. Tried to allocate {ask / MiB:.2f} MiB. GPU 0 has a total "
            f"capacity of {total / GiB:.2f} GiB of which {free / MiB:.2f} MiB is free. Including "
            f"non-PyTorch memory, this process has {used / GiB:.2f} GiB memory in use. Of the "
            f"allocated memory {(used - 0.6 * GiB) / GiB:.2f} GiB is allocated by PyTorch, and "
            "212.41 MiB is reserved by PyTorch but unallocated. If reserved but unallocated "
            "memory is large try setting PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True to "
            "avoid fragmentation.  See documentation for Memory Management  "
            "(https://pytorch.org/docs/stable/notes/cuda.html#environment-variables)")


def resolve(args: argparse.Namespace) -> ResolvedConfig:
    """Apply SGLang's defaults and the memory model. Raises ``ValueError`` for a bad --sim-*."""
    from .catalog import infer_model

    gpu = resolve_gpu(args.sim_gpu)
    model_name = args.sim_model or infer_model(args.model_path)
    if model_name is None:
        raise ValueError(
            f"cannot infer the simulated model from --model-path {args.model_path!r}; "
            "pass --sim-model NAME|DIR")
    model = resolve_model(model_name)
    tp, dp = max(1, args.tp_size), max(1, args.dp_size)
    total_mib = gpu.total_mib
    chunk_default, max_bs_default = _gpu_defaults(total_mib, tp)
    chunk = args.chunked_prefill_size if args.chunked_prefill_size is not None else chunk_default
    if chunk == 0:
        chunk = -1
    # SGLang takes the largest of an explicit --cuda-graph-bs list as the maximum, over
    # --cuda-graph-max-bs
    max_bs = args.cuda_graph_max_bs if args.cuda_graph_max_bs is not None else max_bs_default
    if args.cuda_graph_bs:
        max_bs = max(args.cuda_graph_bs)
    spec = args.speculative_algorithm
    pp = max(1, args.ignored_pp_size or 1)
    dp_attention = bool(args.ignored_enable_dp_attention)
    if dp_attention and tp % dp:
        raise ValueError(f"--enable-dp-attention needs --dp-size to divide --tp-size (the DP "
                         f"ranks split the TP group), got --tp-size {tp} --dp-size {dp}")
    mfs = args.mem_fraction_static
    if mfs is None:
        mfs = default_mem_fraction(total_mib, chunk, max_bs, tp, spec,
                                   max_prefill_tokens=args.max_prefill_tokens, pp=pp, dp=dp,
                                   dp_attention=dp_attention)
    hopper = gpu.name.startswith(("H100", "H200", "H20"))
    attention = args.attention_backend or ("fa3" if hopper else "flashinfer")
    weight_b, kv_b, flops = _precision(args, gpu)
    ctx = args.context_length or model.context_len
    cfg = ResolvedConfig(
        model=model, gpu=gpu, gpu_key=args.sim_gpu, model_path=args.model_path,
        served_model_name=args.served_model_name or args.model_path, tp=tp, dp=dp,
        mem_fraction_static=mfs, chunked_prefill_size=chunk,
        max_prefill_tokens=args.max_prefill_tokens, cuda_graph_max_bs=max_bs, capture_bs=[],
        disable_cuda_graph=bool(args.disable_cuda_graph),
        disable_cuda_graph_padding=bool(args.disable_cuda_graph_padding),
        enable_torch_compile=bool(args.enable_torch_compile),
        torch_compile_max_bs=args.torch_compile_max_bs, schedule_policy=args.schedule_policy,
        schedule_conservativeness=args.schedule_conservativeness,
        stream_interval=max(1, args.stream_interval),
        enable_mixed_chunk=bool(args.enable_mixed_chunk) and chunk > 0,
        page_size=max(1, args.page_size or 1), disable_radix_cache=bool(args.disable_radix_cache),
        overlap_schedule=not args.disable_overlap_schedule,
        num_continuous_decode_steps=max(1, args.num_continuous_decode_steps),
        max_queued_requests=args.max_queued_requests, attention_backend=attention,
        sampling_backend=args.sampling_backend or "flashinfer",
        kv_cache_dtype=args.kv_cache_dtype, kv_dtype_bytes=kv_b, weight_dtype_bytes=weight_b,
        compute_flops=flops, context_len=ctx, speculative_algorithm=spec,
        load_balance_method=args.load_balance_method,
    )
    cfg.dp_attention = dp_attention
    # Memory plan of one tensor-parallel rank.
    cfg.free_init_bytes = gpu.total_bytes - CUDA_CONTEXT_BYTES - (TP_COMM_BYTES if tp > 1 else 0)
    cfg.weights_per_gpu_bytes = int(model.params * weight_b / tp)
    # with DP attention a DP rank's attention (and its KV cache) runs on tp / dp GPUs
    kv_heads = max(1, model.num_kv_heads // (tp // dp if dp_attention else tp))
    cfg.kv_cell_bytes = max(1, int(2 * model.num_layers * kv_heads * model.head_dim * kv_b))
    rest = cfg.free_init_bytes * mfs - cfg.weights_per_gpu_bytes
    tokens = int(rest // cfg.kv_cell_bytes) if rest > 0 else 0
    if args.max_total_tokens is not None and tokens > 0:
        tokens = min(tokens, args.max_total_tokens)
    tokens = tokens // cfg.page_size * cfg.page_size
    cfg.max_total_num_tokens = tokens
    max_running = args.max_running_requests
    if spec is not None and max_running is None:
        max_running = 48  # SGLang's default for speculative decoding
    if max_running is not None:
        pool = max_running
        cfg.max_running_requests = min(pool, max(tokens // 2, 1))
    else:
        pool = min(max(int(tokens / max(ctx, 1) * 512), 2048), 4096)
        cfg.max_running_requests = min(max(tokens // 2, 1), pool)
    cfg.req_pool_size = pool
    if not cfg.disable_cuda_graph:
        multiple = (2 if args.ignored_enable_two_batch_overlap else 1) * (
            max(1, tp // dp) if dp_attention else 1)
        cfg.capture_bs = capture_batch_sizes(
            max_bs, args.cuda_graph_bs, pool, speculative=spec is not None,
            disable_padding=bool(args.disable_cuda_graph_padding), multiple_of=multiple)
    cap_max = max(cfg.capture_bs, default=0)
    cfg.graph_bytes = 0 if not cfg.capture_bs else int(
        0.1 * GiB + len(cfg.capture_bs) * 4 * MiB
        + cap_max * (model.vocab * 4 + 16 * model.hidden * model.num_layers / tp)
        + (0.5 * GiB if cfg.enable_torch_compile else 0))
    act_tokens = chunk if chunk > 0 else max(args.max_prefill_tokens, 8192)
    activation = act_tokens * (model.hidden * 2 * 4 + model.ffn / tp * 2 * 3)
    workspace = WORKSPACE_BYTES + (int(0.25 * GiB) if tp > 1 else 0)
    cfg.need_bytes = int(cfg.graph_bytes + workspace + activation)
    cfg.headroom_bytes = int(cfg.free_init_bytes - cfg.weights_per_gpu_bytes
                             - tokens * cfg.kv_cell_bytes)
    cfg.available_after_bytes = max(cfg.headroom_bytes - cfg.graph_bytes - workspace, 0)
    if not 0 < args.sim_slowdown <= 100:
        raise ValueError(f"--sim-slowdown is a factor in (0, 100], got {args.sim_slowdown}")
    cfg.slowdown = args.sim_slowdown
    # Start-up timing.
    scale = max(0.0, args.sim_startup_scale)
    cfg.init_s = scale * (0.4 + (1.5 if tp > 1 else 0.0) + (0.3 if dp > 1 else 0.0))
    cfg.load_s = scale * (1.0 + cfg.weights_per_gpu_bytes / LOAD_BYTES_PER_S)
    cfg.capture_s_per_size = scale * (0.1 + 0.022 * model.num_layers) * (1.3 if tp > 1 else 1.0)
    if cfg.enable_torch_compile and cfg.capture_bs:
        compiled = sum(1 for bs in cfg.capture_bs if bs <= cfg.torch_compile_max_bs)
        cfg.compile_s = scale * (15.0 + 0.8 * compiled)
    cfg.warmup_s = scale * 0.3
    if spec is not None:
        cfg.spec_steps = args.ignored_speculative_num_steps or 3
        cfg.spec_draft_tokens = args.ignored_speculative_num_draft_tokens or cfg.spec_steps + 1
        cfg.spec_accept = min(SPEC_ACCEPT[spec] * min(cfg.spec_steps, 3) / 3 + (
            1 - min(cfg.spec_steps, 3) / 3), float(cfg.spec_draft_tokens))
        cfg.spec_accept = max(cfg.spec_accept, 1.0)
        cfg.overlap_schedule = False  # SGLang 0.5.x runs speculative decoding without overlap
        cfg.notes.append(f"speculative decoding ({spec}) is modelled crudely: "
                         f"{cfg.spec_accept:.2f} tokens per verify step on average, "
                         f"{cfg.spec_draft_tokens} draft tokens verified per sequence")
    if args.context_length and args.context_length > model.context_len:
        cfg.failure = StartupFailure("init", "value_error", [
            *_py("configs/model_config.py", 221, "__init__", "raise ValueError("),
            f"ValueError: User-specified context_length ({args.context_length}) is greater than "
            f"the derived context_length ({model.context_len}). This may lead to incorrect model "
            "outputs or CUDA errors. To allow overriding this maximum, set the env var "
            "SGLANG_ALLOW_OVERWRITE_LONGER_CONTEXT_LEN=1",
        ])
        return cfg
    _failure_checks(cfg, args, args.sim_gpus_available)
    return cfg
