"""Run by test_tf_mirrored.py in a subprocess: the CPU split into 2 logical devices, one
model trained on one device and under DataParallel (MirroredStrategy); prints one JSON
line of facts for the test to check."""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402


def main():
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()])
    import kbridge
    from kbridge import distribution as kd
    from mlp import build

    kbridge.backend.set("tensorflow")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 6)).astype("float32")
    y = rng.normal(size=(64, 4)).astype("float32")

    w0 = build().get_weights()
    reference = build(w0)
    ref_history = reference.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    out = {"devices": kd.list_devices()}
    with kd.DataParallel().scope() as dp:
        model = build(w0)
        history = model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
        out["diff"] = max(float(np.abs(np.asarray(a) - np.asarray(b)).max())
                          for a, b in zip(model.get_weights(), reference.get_weights()))
        out["loss_diff"] = float(np.abs(np.array(history.history["loss"])
                                        - np.array(ref_history.history["loss"])).max())
        out["mae_diff"] = float(np.abs(np.array(history.history["mae"])
                                       - np.array(ref_history.history["mae"])).max())
        out["replicas"] = dp.num_model_replicas
        kernel = model.layers[0].kernel.value
        out["mirrored"] = [type(kernel).__name__, sorted(
            v.device.rsplit("/", 1)[-1] for v in kernel.values)]
        out["batch_error"] = None
        try:
            model.fit(x[:15], y[:15], batch_size=15, epochs=1, verbose=0)
        except kd.DistributionError as e:
            out["batch_error"] = str(e)
    # Outside the distribution again: a fresh (undistributed) step trains the same variables.
    before = model.get_weights()
    model.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    reference.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    out["after_diff"] = max(float(np.abs(np.asarray(a) - np.asarray(b)).max())
                            for a, b in zip(model.get_weights(), reference.get_weights()))
    out["after_moved"] = max(float(np.abs(np.asarray(a) - np.asarray(b)).max())
                             for a, b in zip(model.get_weights(), before))
    print("RESULT " + json.dumps(out))


if __name__ == "__main__":
    sys.exit(main())
