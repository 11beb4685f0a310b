"""pytest-autotune's SGLang simulator (standard library only).

``python -m pytest_autotune.sim --model-path meta-llama/Llama-3.1-8B-Instruct [sglang flags]``
starts an OpenAI-compatible server that accepts ``sglang.launch_server``'s flags and behaves like
SGLang on a simulated GPU. :mod:`pytest_autotune.sim.catalog` (GPUs and model shapes) is cheap to
import; nothing here imports a third-party package or another ``pytest_autotune`` module, so the
directory also runs from a plain copy inside a minimal Python image.
"""

from __future__ import annotations

__all__: list[str] = []
