"""Step-time model of one SGLang replica (``reference/calibration.md``, "Step-time model").

* decode: ``fixed + max(T_mem, T_compute)`` with ``T_mem`` = weights read at 80 % and KV at 65 %
  of HBM bandwidth and ``T_compute`` at 50 % of dense FLOPs; ``fixed = 0.3 ms + 0.045 ms ×
  layers`` plus two all-reduces per layer (25 µs each) when tp > 1 and an eager-launch penalty
  when the batch runs without a CUDA graph;
* prefill (extend): compute bound, ``1 ms + 0.05 ms × layers + 2.1 · P · tokens / (tp · F · MFU)``
  plus attention over the prefix and the all-reduce traffic, never faster than reading the
  weights once or than 70 % of peak FLOPs;
* a CPU side per step (scheduling, sampling bookkeeping, detokenisation) that the overlap
  scheduler hides behind the GPU step and that adds to it with ``--disable-overlap-schedule``;
* seeded log-normal noise with rare stragglers (:class:`Noise`).
"""

from __future__ import annotations

import bisect
import math
import random
from dataclasses import dataclass

from .config import ResolvedConfig

__all__ = ["Calibration", "CostModel", "Noise"]

DEFAULT_SIGMA = 0.03
#: the device factor's and the drift's standard deviations, relative to sigma (benchmarks/
#: sim_noise.py measures what they give: docs/simulator.md, "Noise")
DEVICE_SHARE = 0.5
DRIFT_SHARE = 0.4
DRIFT_TAU_S = 30.0
EAGER_PER_LAYER_S = {"triton": 69e-6, "flashinfer": 28e-6, "fa3": 35e-6, "torch_native": 90e-6}


@dataclass(frozen=True, slots=True)
class Calibration:
    """The model's constants; the sources are in calibration.md and docs/simulator.md."""

    bw_eff: float = 0.8
    #: KV reads (decode attention) reach less of HBM bandwidth than weight reads: at 0.65 A1 (8B on
    #: A100, measured) stays within a point of its fit at 0.5, and AIConfigurator's long-context
    #: 8B decode within ×1.35 (at 0.5 it is ×1.72); benchmarks/calibration_grid.py
    kv_bw_eff: float = 0.65
    decode_flops_eff: float = 0.5
    fixed_s: float = 0.3e-3
    fixed_per_layer_s: float = 0.045e-3
    #: per all-reduce at tp > 1, with the per-layer synchronisation around it: A4 (70B on 4×H100,
    #: measured) needs 22–25 µs to come within 8 %; AIConfigurator's kernel tables say ~4 µs for
    #: SGLang 0.5.14 and are the cross-check, not the fit: the simulator's 70B TPOT (median over
    #: batches) is then up to ×1.44 AIConfigurator's (docs/simulator.md, "Calibration")
    allreduce_s: float = 0.025e-3
    prefill_fixed_s: float = 1.0e-3
    prefill_per_layer_s: float = 0.05e-3
    prefill_flops_factor: float = 2.1
    max_mfu: float = 0.7
    link_eff: float = 0.7
    gpu_per_seq_s: float = 3e-6
    cpu_step_s: float = 0.35e-3
    cpu_per_seq_s: float = 22e-6
    cpu_per_new_seq_s: float = 60e-6
    compile_fixed_factor: float = 0.8
    ingress_s: float = 9.0e-3
    ingress_per_token_s: float = 0.5e-6
    egress_s: float = 2.0e-3
    straggler_p: float = 0.0005
    request_straggler_p: float = 0.003
    request_straggler_s: tuple[float, float] = (0.02, 0.08)


def prefill_mfu(params: float, gpu_name: str) -> float:
    """MFU of SGLang prefill: ~0.4 for 1B-class, 0.6 from 7B; H20's weak tensor cores fill more."""
    billions = params / 1e9
    if billions <= 1.3:
        mfu = 0.4
    elif billions >= 7.0:
        mfu = 0.6
    else:
        mfu = 0.4 + 0.2 * math.log(billions / 1.3) / math.log(7.0 / 1.3)
    if gpu_name == "H20":  # not "H200-SXM": a prefix test took H200 for H20
        mfu *= 1.15
    return min(mfu, 0.7)


class Noise:
    """Seeded multiplicative noise on step times (mean about 1); sigma 0 gives exactly 1.

    Three time scales, the way identical GPU deployments differ:

    * a **device factor** per replica, fixed for the deployment's life (silicon, clocks, host):
      log-normal with ``DEVICE_SHARE × sigma``;
    * a slow **drift** (thermals, boost clocks, neighbours): an Ornstein–Uhlenbeck process in
      log space with ``DRIFT_SHARE × sigma`` and a ``DRIFT_TAU_S`` correlation time, so two
      benchmark passes a minute apart on one server differ, and requests within a pass share it;
    * per-step **jitter** (``sigma``), which averages out over a run, plus rare stragglers: a slow
      step (every running request sees it) and a slow request (a host-side hiccup before the
      scheduler sees it). Their probabilities are given for the default sigma and scale with it.
    """

    def __init__(self, seed: int, sigma: float, straggler_p: float = 0.0005,
                 request_p: float = 0.003, request_s: tuple[float, float] = (0.02, 0.08)) -> None:
        self.rng = random.Random(seed)
        self.req_rng = random.Random(seed ^ 0x9E3779B9)
        self.drift_rng = random.Random(seed ^ 0x7F4A7C15)
        self.sigma = max(0.0, sigma)
        scale = self.sigma / DEFAULT_SIGMA
        self.straggler_p = straggler_p * scale
        self.request_p = request_p * scale
        self.request_s = request_s
        self.device = (self.rng.lognormvariate(0.0, self.sigma * DEVICE_SHARE)
                       if self.sigma > 0 else 1.0)
        self.drift_sd = self.sigma * DRIFT_SHARE
        self._log_drift = self.drift_rng.gauss(0.0, self.drift_sd) if self.drift_sd else 0.0
        self._drift_t: float | None = None

    def request_delay(self) -> float:
        if self.request_p <= 0 or self.req_rng.random() >= self.request_p:
            return 0.0
        return self.req_rng.uniform(*self.request_s)

    def drift(self, now: float | None) -> float:
        """The drift factor at time ``now`` (seconds, any origin); constant when None."""
        if self.drift_sd <= 0:
            return 1.0
        if now is not None:
            if self._drift_t is not None and now > self._drift_t:
                a = math.exp(-(now - self._drift_t) / DRIFT_TAU_S)
                self._log_drift = (a * self._log_drift
                                   + math.sqrt(1 - a * a) * self.drift_rng.gauss(0, self.drift_sd))
            self._drift_t = now if self._drift_t is None else max(self._drift_t, now)
        return math.exp(self._log_drift)

    def factor(self, now: float | None = None) -> float:
        if self.sigma <= 0:
            return 1.0
        f = self.device * self.drift(now) * self.rng.lognormvariate(-self.sigma**2 / 2,
                                                                    self.sigma)
        if self.rng.random() < self.straggler_p:
            f *= self.rng.uniform(2.5, 6.0)
        return f


class CostModel:
    """Step durations for one replica (tp GPUs) of a resolved configuration."""

    def __init__(self, cfg: ResolvedConfig, calib: Calibration | None = None) -> None:
        self.cfg = cfg
        self.c = c = calib or Calibration()
        m, gpu, tp = cfg.model, cfg.gpu, cfg.tp
        self.tp = tp
        lookup = 0 if m.tied_embeddings else m.embedding_params
        self.w_read = (m.params - lookup) * cfg.weight_dtype_bytes / tp
        self.p_mm = m.matmul_params
        self.kv_cell = cfg.kv_cell_bytes
        self.bw = gpu.bandwidth
        self.flops = cfg.compute_flops
        # attention FLOPs per (query token × context token): QK^T and PV over all heads
        self.attn_coef = 4.0 * m.num_layers * m.num_heads * m.head_dim / tp
        self.mfu = prefill_mfu(m.params, gpu.name)
        layers = m.num_layers
        self.fixed = c.fixed_s + c.fixed_per_layer_s * layers
        self.allreduce = 2 * layers * c.allreduce_s if tp > 1 else 0.0
        self.eager = layers * EAGER_PER_LAYER_S.get(cfg.attention_backend, 45e-6)
        self.prefill_fixed = c.prefill_fixed_s + c.prefill_per_layer_s * layers
        self.link = gpu.interconnect / 2 * c.link_eff
        self.hidden_bytes = m.hidden * 2
        self.layers = layers
        self.graph_sizes = sorted(cfg.capture_bs)
        self.graph_max = self.graph_sizes[-1] if self.graph_sizes else 0
        self.cpu_per_seq = c.cpu_per_seq_s * (0.5 + 0.5 / cfg.stream_interval)
        self.weight_floor = self.w_read / self.bw

    def uses_graph(self, bs: int) -> bool:
        if bs > self.graph_max:
            return False
        if self.cfg.disable_cuda_graph_padding:
            i = bisect.bisect_left(self.graph_sizes, bs)
            return i < len(self.graph_sizes) and self.graph_sizes[i] == bs
        return True

    def padded(self, bs: int) -> int:
        i = bisect.bisect_left(self.graph_sizes, bs)
        return self.graph_sizes[i] if i < len(self.graph_sizes) else bs

    def _comm(self, tokens: int) -> float:
        if self.tp <= 1:
            return 0.0
        volume = tokens * self.hidden_bytes * 2 * (self.tp - 1) / self.tp
        return self.allreduce + 2 * self.layers * volume / self.link

    def _combine(self, gpu: float, cpu: float) -> float:
        return max(gpu, cpu) if self.cfg.overlap_schedule else gpu + cpu

    def decode(self, bs: int, kv_tokens: int, tokens_per_seq: int = 1) -> float:
        """One decode step for ``bs`` sequences holding ``kv_tokens`` tokens of context.

        ``tokens_per_seq`` > 1 is a speculative verify pass (the draft tokens of each sequence).
        """
        graph = self.uses_graph(bs)
        pb = (self.padded(bs) if graph else bs) * tokens_per_seq
        t_mem = self.w_read / (self.bw * self.c.bw_eff) + kv_tokens * self.kv_cell / (
            self.bw * self.c.kv_bw_eff)
        t_comp = (2.0 * self.p_mm * pb / self.tp + self.attn_coef * kv_tokens * tokens_per_seq) / (
            self.flops * self.c.decode_flops_eff)
        fixed = self.fixed
        if graph and self.cfg.enable_torch_compile and bs <= self.cfg.torch_compile_max_bs:
            fixed *= self.c.compile_fixed_factor
        if not graph:
            fixed += self.eager
        gpu = fixed + self._comm(bs) + max(t_mem, t_comp) + self.c.gpu_per_seq_s * bs
        gpu = max(gpu, self.weight_floor)
        cpu = self.c.cpu_step_s + self.cpu_per_seq * bs
        return self._combine(gpu, cpu)

    def speculative(self, bs: int, kv_tokens: int) -> float:
        """A speculative step: ``spec_steps`` draft passes of a one-layer head, then one verify."""
        cfg = self.cfg
        lm_head = self.cfg.model.embedding_params * cfg.weight_dtype_bytes / self.tp
        draft = (self.c.fixed_s + self.c.fixed_per_layer_s
                 + lm_head / (self.bw * self.c.bw_eff) + self.c.gpu_per_seq_s * bs)
        return cfg.spec_steps * draft + self.decode(bs, kv_tokens, cfg.spec_draft_tokens)

    def prefill(self, tokens: int, attn_work: float, new_seqs: int,
                decode_bs: int = 0, decode_kv: int = 0) -> float:
        """One extend pass of ``tokens`` new tokens (``attn_work`` = Σ extend × context).

        ``decode_bs``/``decode_kv`` add the decode requests of a mixed batch.
        """
        total = tokens + decode_bs
        compute = (self.c.prefill_flops_factor * self.p_mm * total / self.tp
                   + self.attn_coef * (attn_work + decode_kv)) / (self.flops * self.mfu)
        memory = self.w_read / (self.bw * self.c.bw_eff) + decode_kv * self.kv_cell / (
            self.bw * self.c.kv_bw_eff)
        gpu = self.prefill_fixed + self._comm(total) + max(compute, memory)
        cpu = (self.c.cpu_step_s + self.c.cpu_per_new_seq_s * new_seqs
               + self.cpu_per_seq * decode_bs)
        return self._combine(gpu, cpu)

    def ingress(self, prompt_tokens: int) -> float:
        """HTTP parsing, chat template, tokenisation and IPC before the scheduler sees it."""
        return self.c.ingress_s + self.c.ingress_per_token_s * prompt_tokens

    def egress(self) -> float:
        """Detokenisation, IPC and SSE framing after the step that made the token."""
        return self.c.egress_s
