"""Repository glue only. The plugin itself is loaded through its pytest11 entry point — never list
``pytest_autotune.plugin`` in ``pytest_plugins`` here (it would be registered twice)."""

pytest_plugins = ["pytester"]
