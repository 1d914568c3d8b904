"""Training throughput: kbridge ``fit`` vs Keras 3 ``fit`` vs a native loop, same model, same
backend, same data, in one run.

Usage: ``python benchmarks/training.py [--backends torch,jax,tensorflow] [--steps 60]``

Each measurement runs in a fresh subprocess (Keras fixes its backend at import), trains an MLP
(784-256-256-10, Adam, batch 128) for a warm-up epoch and then times ``--steps`` steps.
Prints samples/second and the ratios kbridge/native and kbridge/Keras.
"""

import argparse
import json
import os
import subprocess
import sys
import time

BATCH, FEATURES, CLASSES = 128, 784, 10

_COMMON = f"""
import time, json, numpy as np
rng = np.random.default_rng(0)
x = rng.normal(size=({{n}}, {FEATURES})).astype("float32")
y = rng.integers(0, {CLASSES}, size=({{n}},)).astype("int32")
"""

_KBRIDGE = """
import kbridge
with kbridge.backend.use("{backend}"):
    model = kbridge.Sequential([kbridge.Input((784,)), kbridge.layers.Dense(256, activation="relu"),
                                kbridge.layers.Dense(256, activation="relu"), kbridge.layers.Dense(10)])
model.compile(optimizer=kbridge.optimizers.Adam(1e-3),
              loss=kbridge.losses.SparseCategoricalCrossentropy(from_logits=True))
model.fit(x, y, batch_size=128, epochs=1, verbose=0)
t = time.perf_counter(); model.fit(x, y, batch_size=128, epochs=1, verbose=0)
print(json.dumps({{"seconds": time.perf_counter() - t}}))
"""

_KERAS = """
import keras
model = keras.Sequential([keras.Input((784,)), keras.layers.Dense(256, activation="relu"),
                          keras.layers.Dense(256, activation="relu"), keras.layers.Dense(10)])
model.compile(optimizer=keras.optimizers.Adam(1e-3),
              loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
model.fit(x, y, batch_size=128, epochs=1, verbose=0)
t = time.perf_counter(); model.fit(x, y, batch_size=128, epochs=1, verbose=0)
print(json.dumps({{"seconds": time.perf_counter() - t}}))
"""

_NATIVE = {
    "torch": """
import torch
net = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 256),
                          torch.nn.ReLU(), torch.nn.Linear(256, 10))
opt = torch.optim.Adam(net.parameters(), 1e-3)
xt, yt = torch.from_numpy(x), torch.from_numpy(y).long()
def epoch():
    for i in range(0, len(xt), 128):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(xt[i:i+128]), yt[i:i+128])
        loss.backward(); opt.step()
epoch(); t = time.perf_counter(); epoch()
print(json.dumps({"seconds": time.perf_counter() - t}))
""",
    "jax": """
import jax, jax.numpy as jnp
def init(key, sizes=(784, 256, 256, 10)):
    keys = jax.random.split(key, len(sizes))
    return [(jax.random.normal(k, (a, b)) * (2 / a) ** 0.5, jnp.zeros(b))
            for k, a, b in zip(keys, sizes[:-1], sizes[1:])]
def forward(p, xb):
    for w, b in p[:-1]:
        xb = jax.nn.relu(xb @ w + b)
    w, b = p[-1]
    return xb @ w + b
def loss_fn(p, xb, yb):
    logits = forward(p, xb)
    return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), yb[:, None], 1))
params = init(jax.random.PRNGKey(0))
m = jax.tree_util.tree_map(jnp.zeros_like, params); v = jax.tree_util.tree_map(jnp.zeros_like, params)
@jax.jit
def step(params, m, v, t, xb, yb):
    g = jax.grad(loss_fn)(params, xb, yb)
    m = jax.tree_util.tree_map(lambda m, g: 0.9 * m + 0.1 * g, m, g)
    v = jax.tree_util.tree_map(lambda v, g: 0.999 * v + 0.001 * g * g, v, g)
    lr = 1e-3 * jnp.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t)
    params = jax.tree_util.tree_map(lambda p, m, v: p - lr * m / (jnp.sqrt(v) + 1e-7), params, m, v)
    return params, m, v
def epoch(params, m, v):
    for i, s in enumerate(range(0, len(x), 128)):
        params, m, v = step(params, m, v, i + 1.0, x[s:s+128], y[s:s+128])
    jax.block_until_ready(params)
    return params, m, v
params, m, v = epoch(params, m, v)
t = time.perf_counter(); epoch(params, m, v)
print(json.dumps({"seconds": time.perf_counter() - t}))
""",
    "tensorflow": """
import tensorflow as tf
ws = [tf.Variable(tf.random.normal((a, b)) * (2 / a) ** 0.5) for a, b in [(784, 256), (256, 256), (256, 10)]]
bs = [tf.Variable(tf.zeros(b)) for b in (256, 256, 10)]
opt_vars = ws + bs
ms = [tf.Variable(tf.zeros_like(v)) for v in opt_vars]; vs = [tf.Variable(tf.zeros_like(v)) for v in opt_vars]
it = tf.Variable(0.0)
@tf.function
def step(xb, yb):
    with tf.GradientTape() as tape:
        h = xb
        for w, b in zip(ws[:-1], bs[:-1]):
            h = tf.nn.relu(h @ w + b)
        logits = h @ ws[-1] + bs[-1]
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(yb, logits))
    grads = tape.gradient(loss, opt_vars)
    it.assign_add(1.0)
    lr = 1e-3 * tf.sqrt(1 - 0.999 ** it) / (1 - 0.9 ** it)
    for p, g, m, v in zip(opt_vars, grads, ms, vs):
        m.assign(0.9 * m + 0.1 * g); v.assign(0.999 * v + 0.001 * g * g)
        p.assign_sub(lr * m / (tf.sqrt(v) + 1e-7))
def epoch():
    for s in range(0, len(x), 128):
        step(x[s:s+128], y[s:s+128])
epoch(); t = time.perf_counter(); epoch()
print(json.dumps({"seconds": time.perf_counter() - t}))
""",
}


def run(kind, backend, steps):
    n = steps * BATCH
    body = {"kbridge": _KBRIDGE, "keras": _KERAS}.get(kind)
    code = _COMMON.format(n=n) + (body.format(backend=backend) if body else _NATIVE[backend])
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3",
               KBRIDGE_BACKEND=backend)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    if out.returncode != 0:
        return None, out.stderr.strip().splitlines()[-1] if out.stderr else "failed"
    seconds = json.loads(out.stdout.strip().splitlines()[-1])["seconds"]
    return n / seconds, None


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--backends", default="torch,jax,tensorflow")
    parser.add_argument("--steps", type=int, default=60)
    args = parser.parse_args()
    print(f"MLP 784-256-256-10, Adam, batch {BATCH}, {args.steps} timed steps (samples/s)")
    print(f"{'backend':<11}{'native':>10}{'keras 3':>10}{'kbridge':>10}"
          f"{'kb/native':>11}{'kb/keras':>10}")
    for backend in args.backends.split(","):
        results = {}
        for kind in ("native", "keras", "kbridge"):
            results[kind], err = run(kind, backend, args.steps)
            if err:
                print(f"  {backend} {kind}: {err}", file=sys.stderr)
        nat, ker, kb = (results[k] for k in ("native", "keras", "kbridge"))
        fmt = lambda v: f"{v:>10.0f}" if v else f"{'-':>10}"  # noqa: E731
        ratio = lambda a, b: f"{a / b:>10.2f}" if a and b else f"{'-':>10}"  # noqa: E731
        print(f"{backend:<11}{fmt(nat)}{fmt(ker)}{fmt(kb)} {ratio(kb, nat)}{ratio(kb, ker)}")


if __name__ == "__main__":
    start = time.time()
    main()
    print(f"(total {time.time() - start:.0f}s)")
