"""Cost of ``import kbridge`` in a fresh interpreter (median of 7), next to ``import numpy``.

Run: ``python -m benchmarks.import_time`` (also part of ``make bench``).
"""

import statistics
import subprocess
import sys

__all__ = ["import_times", "measure"]


def measure(stmt, repeat=7):
    """Median seconds ``stmt`` takes in ``repeat`` fresh interpreters."""
    code = f"import time; t = time.perf_counter(); {stmt}; print(time.perf_counter() - t)"
    runs = [float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                 check=True).stdout) for _ in range(repeat)]
    return statistics.median(runs)


def import_times(repeat=7):
    """``{"numpy_ms", "kbridge_ms", "repeat"}``: medians of fresh-interpreter imports."""
    return {"numpy_ms": measure("import numpy", repeat) * 1e3,
            "kbridge_ms": measure("import kbridge", repeat) * 1e3, "repeat": repeat}


if __name__ == "__main__":
    times = import_times()
    print(f"import numpy:   {times['numpy_ms']:6.1f} ms")
    print(f"import kbridge: {times['kbridge_ms']:6.1f} ms (numpy included; kbridge itself "
          f"{times['kbridge_ms'] - times['numpy_ms']:.1f} ms)")
