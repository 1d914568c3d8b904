"""The kbridge command line."""

import subprocess
import sys

from kbridge import cli
from tests.hub.test_release import _model


def test_info_lists_backends(capsys):
    assert cli.main(["info"]) == 0
    out = capsys.readouterr().out
    assert "kbridge" in out and "numpy" in out and "torch" in out


def test_hub_inspect_convert_load(tmp_path, capsys):
    import kbridge

    kbridge.hub.save(_model(), tmp_path / "rel", max_shard_size="100B")
    assert cli.main(["hub", "inspect", str(tmp_path / "rel")]) == 0
    out = capsys.readouterr().out
    assert "class:       Sequential" in out and "parameters:  32" in out
    assert "model-00001-of-00002.safetensors" in out and "library_name: kbridge" in out
    assert cli.main(["hub", "convert", str(tmp_path / "rel"), str(tmp_path / "copy")]) == 0
    assert cli.main(["hub", "load", str(tmp_path / "copy"), "--backend", "numpy"]) == 0
    out = capsys.readouterr().out
    assert "32 parameters" in out and "output shape (2, 2)" in out


def test_errors_are_one_line_not_tracebacks(tmp_path):
    out = subprocess.run([sys.executable, "-m", "kbridge.cli", "hub", "inspect",
                          str(tmp_path / "nowhere")], capture_output=True, text=True)
    assert out.returncode == 1
    assert out.stderr.startswith("kbridge: error: No release at") and "Traceback" not in out.stderr
