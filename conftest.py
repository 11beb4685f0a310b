"""Repository glue only. The plugin itself is loaded through its pytest11 entry point — never list
``pytest_autotune.plugin.main`` in ``pytest_plugins`` here (it would be registered twice)."""

import signal

pytest_plugins = ["pytester"]

# A shell starts a background job (`make test &`) with SIGINT ignored, and every process below
# inherits that: the tests that press Ctrl-C on a pytest run would then test nothing. Handling
# SIGINT here gives the processes these tests start the default disposition again.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
