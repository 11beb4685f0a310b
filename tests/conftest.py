"""Imports the suite needs before any test runs.

pytester's inline runs (``runpytest``) drop from ``sys.modules`` every module first imported
during the run. scipy.stats, which the plugin imports on its first interval, pulls in numpy's C
extensions (``numpy.fft._pocketfft_umath``), and a C extension cannot be loaded twice in one
process: the next test to import scipy.stats would fail with "cannot load module more than once
per process". Importing it here, at collection, keeps it loaded for the whole session.
"""

import scipy.stats  # noqa: F401
