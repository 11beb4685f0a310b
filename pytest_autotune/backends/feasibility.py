"""Configurations that cannot run at all are skipped at collection, with the reason shown."""

from __future__ import annotations

from .base import ServerSpec


def infeasible_before_launch(
    spec: ServerSpec, *, pool_size: int | None, simulated: bool, pool_note: str = ""
) -> str | None:
    """Why this configuration cannot start on this machine, or None."""
    if spec.endpoint:
        return None
    flags = spec.flag_dict
    dp_attention = flags.get("enable-dp-attention") is True
    if dp_attention:
        tp, dp = int(flags.get("tp-size", 1)), int(flags.get("dp-size", 1))
        if tp % dp:
            return (f"--enable-dp-attention needs dp-size to divide tp-size (the DP ranks split "
                    f"the TP group): dp-size {dp}, tp-size {tp}")
    if pool_size is not None and spec.gpus > pool_size:
        names = ("tp-size", "pp-size") if dp_attention else ("tp-size", "dp-size", "pp-size")
        how = " × ".join(f"{n} {flags.get(n, 1)}" for n in names if n in flags)
        detail = f" ({how})" if how else ""
        note = f"; {pool_note}" if pool_note else ""
        return f"needs {spec.gpus} GPUs{detail}, only {pool_size} available{note}"
    if simulated:
        return _model_shape_reason(spec)
    return None


def _model_shape_reason(spec: ServerSpec) -> str | None:
    """Checks SGLang makes at start-up that the model's shape lets us make now."""
    try:
        from ..sim import catalog
    except ImportError:  # pragma: no cover - the simulator ships with the package
        return None
    name = spec.sim.model or catalog.infer_model(spec.model_path)
    if name is None:
        return None
    try:
        shape = catalog.resolve_model(name)
    except ValueError:
        return None
    tp = int(spec.flag_dict.get("tp-size", 1))
    if shape.num_heads % tp:
        return (f"tp-size {tp} does not divide the {shape.num_heads} attention heads of "
                f"{shape.name}")
    return None
