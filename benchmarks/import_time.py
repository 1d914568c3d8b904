"""Cost of ``import kbridge`` in a fresh interpreter (median of 7), next to ``import numpy``."""

import statistics
import subprocess
import sys


def measure(stmt, repeat=7):
    code = f"import time; t = time.perf_counter(); {stmt}; print(time.perf_counter() - t)"
    runs = [float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                 check=True).stdout) for _ in range(repeat)]
    return statistics.median(runs)


if __name__ == "__main__":
    numpy_s = measure("import numpy")
    kbridge_s = measure("import kbridge")
    print(f"import numpy:   {numpy_s * 1e3:6.1f} ms")
    print(f"import kbridge: {kbridge_s * 1e3:6.1f} ms (numpy included; kbridge itself "
          f"{(kbridge_s - numpy_s) * 1e3:.1f} ms)")
