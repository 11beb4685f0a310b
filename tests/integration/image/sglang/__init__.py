"""Test stand-in for the ``sglang`` package: only ``python3 -m sglang.launch_server`` exists, and
it runs pytest-autotune's simulator. This is NOT SGLang."""
