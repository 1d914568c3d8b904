"""Record real Keras 3's results for every program in ``programs/`` on jax, torch and
tensorflow (one subprocess per backend) into ``keras_reference.json``.

    python -m tests.compat.make_reference      # or: make compat-reference
"""

import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    import keras  # noqa: F401  (fails clearly when the reference is not installed)

    reference = {"keras_version": keras.__version__}
    with tempfile.TemporaryDirectory() as tmp:
        procs = {}
        for backend in ("jax", "torch", "tensorflow"):
            out = os.path.join(tmp, f"{backend}.json")
            procs[backend] = (out, subprocess.Popen(
                [sys.executable, os.path.join(HERE, "run_program.py"), "keras", backend, out],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        for backend, (out, proc) in procs.items():
            proc.wait()
            with open(out) as f:
                runs = json.load(f)
            for run in runs.values():
                run.pop("traceback", None)
                run.pop("seconds", None)
            reference[backend] = runs
    with open(os.path.join(HERE, "keras_reference.json"), "w") as f:
        json.dump(reference, f, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
