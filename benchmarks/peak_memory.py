"""Peak resident-set growth of one load, measured in a fresh process.

The process first runs the same load on a small input (imports and first-call setup stay
outside the measurement), then resets the kernel's peak-RSS mark (``clear_refs`` 5) and
reports ``VmHWM - VmRSS`` around the real load. Used by ``hub_load`` and ``llm``.
"""

import os
import subprocess
import sys

_MEASURE = """
load(small)  # imports and first-call setup, outside the measurement
def _status(field):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1]) / 1024
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # resets the peak-RSS mark (VmHWM)
before = _status("VmRSS")
kept = load(path)
print(_status("VmHWM") - before)
"""


def peak_growth_mb(setup, path, small, *args, env=None):
    """``(MiB, None)`` or ``(None, error)`` for ``setup``, Python source that defines
    ``load(p)`` from ``sys.argv[3:]`` (``args``), loading ``path`` after ``small``."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    code = "import sys\npath, small = sys.argv[1:3]\n" + setup + _MEASURE
    done = subprocess.run([sys.executable, "-c", code, path, small, *args],
                          capture_output=True, text=True, cwd=root,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", **(env or {})))
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return None, f"exit status {done.returncode}: {last[:300]}"
    return float(done.stdout.strip().splitlines()[-1]), None
