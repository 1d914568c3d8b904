"""kbridge's benchmark harness (``make bench``); see :mod:`benchmarks.run`."""
