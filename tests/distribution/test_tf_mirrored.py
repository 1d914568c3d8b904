"""tf.distribute.MirroredStrategy over 2 logical CPU devices, in a subprocess (the split
must happen before TensorFlow starts): DataParallel training equals one-device training
(see tf_job.py)."""

import json
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture(scope="module")
def facts():
    run = subprocess.run([sys.executable, os.path.join(HERE, "tf_job.py")], capture_output=True,
                         text=True, timeout=240)
    assert run.returncode == 0, run.stderr[-3000:]
    line = [ln for ln in run.stdout.splitlines() if ln.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


def test_two_logical_devices(facts):
    assert facts["devices"] == ["cpu:0", "cpu:1"]
    assert facts["replicas"] == 2


def test_mirrored_equals_one_device(facts):
    assert facts["diff"] < 1e-5
    assert facts["loss_diff"] < 1e-5  # logs are those of the global batch
    assert facts["mae_diff"] < 1e-5


def test_variables_are_mirrored(facts):
    kind, devices = facts["mirrored"]
    assert kind == "MirroredVariable"
    assert devices == ["device:CPU:0", "device:CPU:1"]


def test_uneven_batch_is_refused(facts):
    assert "15 samples" in facts["batch_error"] and "2 replicas" in facts["batch_error"]


def test_training_continues_after_the_distribution_is_unset(facts):
    assert facts["after_moved"] > 1e-3  # a new, undistributed step trained the weights
    assert facts["after_diff"] < 1e-5
