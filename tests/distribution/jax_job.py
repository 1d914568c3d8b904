"""Run by test_jax_sharding.py in a subprocess with 8 virtual CPU devices: trains one model
on one device, under DataParallel and under ModelParallel, and loads a hub release into a
sharded layout; prints one JSON line of facts for the test to check."""

import json
import os
import sys
import tempfile

os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=8"
os.environ["JAX_PLATFORMS"] = "cpu"

import numpy as np  # noqa: E402

import kbridge  # noqa: E402
from kbridge import distribution as kd  # noqa: E402
from mlp import build  # noqa: E402


def train(model, x, y):
    model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    return [np.asarray(w) for w in model.get_weights()]


def specs(model):
    return {v.path: [str(v.value.sharding.spec), len(v.value.sharding.device_set)]
            for v in model.weights}


def main():
    import jax

    kbridge.backend.set("jax")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 6)).astype("float32")
    y = rng.normal(size=(64, 4)).astype("float32")
    w0 = build().get_weights()
    out = {"devices": kd.list_devices(), "jax_devices": len(jax.devices())}
    reference = train(build(w0), x, y)

    with kd.DataParallel().scope():
        model = build(w0)
        weights = train(model, x, y)
        out["dp_diff"] = max(float(np.abs(a - b).max()) for a, b in zip(weights, reference))
        out["dp_specs"] = specs(model)
        out["dp_opt_specs"] = [str(v.value.sharding.spec) for v in model.optimizer.variables]
        from kbridge.backend.jax.distribution_lib import distribute_batch

        batch = distribute_batch((x[:16], y[:16]), kd.distribution())[0]
        out["dp_batch"] = [str(batch.sharding.spec), list(batch.addressable_shards[0].data.shape)]
        out["dp_batch_error"] = None
        try:
            model.fit(x[:10], y[:10], batch_size=10, epochs=1, verbose=0)
        except kd.DistributionError as e:
            out["dp_batch_error"] = str(e)

    mesh = kd.DeviceMesh((2, 4), ["batch", "model"], kd.list_devices())
    layout_map = kd.LayoutMap(mesh)
    layout_map["dense.*kernel"] = (None, "model")
    mp = kd.ModelParallel(layout_map=layout_map, batch_dim_name="batch")
    with mp.scope():
        model = build(w0)
        out["mp_specs_before_fit"] = specs(model)
        weights = train(model, x, y)
        out["mp_diff"] = max(float(np.abs(a - b).max()) for a, b in zip(weights, reference))
        out["mp_specs"] = specs(model)
        out["mp_kernel_shard_shape"] = list(
            model.layers[0].kernel.value.addressable_shards[0].data.shape)
        out["mp_predict_diff"] = float(np.abs(model.predict(x, batch_size=16, verbose=0)
                                              - build(weights).predict(x, verbose=0)).max())

    # A release saved on one device loads straight into the sharded layout.
    path = os.path.join(tempfile.mkdtemp(), "release")
    kbridge.hub.save(build(reference), path)
    with mp.scope():
        loaded = kbridge.hub.load(path)
        out["hub_specs"] = specs(loaded)
        out["hub_diff"] = max(float(np.abs(np.asarray(a) - b).max())
                              for a, b in zip(loaded.get_weights(), reference))
    out["distribution_after"] = repr(kd.distribution())
    out["device_count"] = kd.get_device_count("cpu")
    placed = kd.distribute_tensor(x, kd.TensorLayout(["batch", None], mesh))
    inside = jax.jit(lambda t: kd.distribute_tensor(t * 2, kd.TensorLayout([None, "model"],
                                                                             mesh)))(x[:, :4])
    out["distributed"] = [str(placed.sharding.spec), list(placed.addressable_shards[0].data.shape),
                          bool(np.array_equal(np.asarray(placed), x)), str(inside.sharding.spec)]
    print("RESULT " + json.dumps(out))


if __name__ == "__main__":
    sys.exit(main())
