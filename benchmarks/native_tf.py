"""Hand-written TensorFlow versions of the workloads: ``tf.Variable`` s, raw ops,
``tf.function`` + ``GradientTape`` (no Keras, so nothing of either Keras is measured)."""

import numpy as np
import tensorflow as tf


class _Params:
    """Creates He-initialised weights and zero biases, in creation order."""

    def __init__(self):
        self.rng = np.random.default_rng(0)
        self.variables = []

    def weight(self, *shape, fan_in):
        value = self.rng.normal(size=shape) * np.sqrt(2.0 / fan_in)
        return self._add(value.astype("float32"))

    def zeros(self, *shape):
        return self._add(np.zeros(shape, "float32"))

    def ones(self, *shape):
        return self._add(np.ones(shape, "float32"))

    def _add(self, value):
        v = tf.Variable(value)
        self.variables.append(v)
        return v


def _layer_norm(x, gamma, beta):
    mean, variance = tf.nn.moments(x, axes=[-1], keepdims=True)
    return (x - mean) * tf.math.rsqrt(variance + 1e-5) * gamma + beta


def build(workload, spec):
    """``(forward(x), variables)`` of the ``workload`` network."""
    p = _Params()
    if workload in ("mlp", "latency"):
        dims = spec["dims"]
        layers = [(p.weight(a, b, fan_in=a), p.zeros(b)) for a, b in zip(dims[:-1], dims[1:])]

        def forward(x):
            for w, b in layers[:-1]:
                x = tf.nn.relu(tf.matmul(x, w) + b)
            w, b = layers[-1]
            return tf.matmul(x, w) + b

        return forward, p.variables
    if workload == "cnn":
        f1, f2 = spec["filters"]
        h, w, c = spec["image"]
        k1, b1 = p.weight(3, 3, c, f1, fan_in=9 * c), p.zeros(f1)
        k2, b2 = p.weight(3, 3, f1, f2, fan_in=9 * f1), p.zeros(f2)
        flat = f2 * ((h - 4) // 2) * ((w - 4) // 2)
        wd, bd = p.weight(flat, spec["classes"], fan_in=flat), p.zeros(spec["classes"])

        def forward(x):
            x = tf.nn.relu(tf.nn.conv2d(x, k1, 1, "VALID") + b1)
            x = tf.nn.relu(tf.nn.conv2d(x, k2, 1, "VALID") + b2)
            x = tf.nn.max_pool2d(x, 2, 2, "VALID")
            return tf.matmul(tf.reshape(x, (tf.shape(x)[0], -1)), wd) + bd

        return forward, p.variables
    if workload == "transformer":
        return _transformer(p, spec), p.variables
    raise ValueError(f"No tensorflow version of workload {workload!r}")


def _transformer(p, spec):
    d, heads, ff = spec["width"], spec["heads"], spec["ff"]
    head_dim = d // heads
    embedding = p.weight(spec["vocab"], d, fan_in=d)
    blocks = []
    for _ in range(spec["layers"]):
        blocks.append({
            "qkv": p.weight(d, 3 * d, fan_in=d), "qkv_b": p.zeros(3 * d),
            "out": p.weight(d, d, fan_in=d), "out_b": p.zeros(d),
            "ln1": (p.ones(d), p.zeros(d)),
            "ff1": p.weight(d, ff, fan_in=d), "ff1_b": p.zeros(ff),
            "ff2": p.weight(ff, d, fan_in=ff), "ff2_b": p.zeros(d),
            "ln2": (p.ones(d), p.zeros(d)),
        })
    head, head_b = p.weight(d, spec["classes"], fan_in=d), p.zeros(spec["classes"])

    def split(t):  # (b, s, d) -> (b, heads, s, head_dim)
        shape = tf.shape(t)
        return tf.transpose(tf.reshape(t, (shape[0], shape[1], heads, head_dim)), (0, 2, 1, 3))

    def forward(tokens):
        x = tf.gather(embedding, tokens)
        for blk in blocks:
            q, k, v = tf.split(tf.einsum("bsd,de->bse", x, blk["qkv"]) + blk["qkv_b"], 3, -1)
            q, k, v = split(q), split(k), split(v)
            weights = tf.nn.softmax(tf.matmul(q, k, transpose_b=True) / head_dim ** 0.5)
            attended = tf.transpose(tf.matmul(weights, v), (0, 2, 1, 3))
            attended = tf.reshape(attended, tf.shape(x))
            x = _layer_norm(x + tf.einsum("bsd,de->bse", attended, blk["out"]) + blk["out_b"],
                            *blk["ln1"])
            h = tf.nn.relu(tf.einsum("bsd,df->bsf", x, blk["ff1"]) + blk["ff1_b"])
            x = _layer_norm(x + tf.einsum("bsf,fd->bsd", h, blk["ff2"]) + blk["ff2_b"],
                            *blk["ln2"])
        return tf.matmul(tf.reduce_mean(x, axis=1), head) + head_b

    return forward


def train_chunk(forward, variables, x, y, batch):
    """A callable running one ``tf.function`` Adam step per ``batch`` rows of ``(x, y)``."""
    optimizer = _Adam(variables)
    batches = [(tf.constant(x[i:i + batch]), tf.constant(y[i:i + batch]))
               for i in range(0, len(x), batch)]

    @tf.function
    def step(xb, yb):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(
                tf.nn.sparse_softmax_cross_entropy_with_logits(yb, forward(xb)))
        optimizer.apply(tape.gradient(loss, variables))

    def run():
        for xb, yb in batches:
            step(xb, yb)

    return run


class _Adam:
    """Adam as Keras computes it (lr 1e-3, eps 1e-7), on tf variables."""

    def __init__(self, variables, lr=1e-3, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
        self.variables, self.lr, self.b1, self.b2, self.eps = variables, lr, beta_1, beta_2, epsilon
        self.m = [tf.Variable(tf.zeros_like(v)) for v in variables]
        self.v = [tf.Variable(tf.zeros_like(v)) for v in variables]
        self.iterations = tf.Variable(0.0)

    def apply(self, grads):
        self.iterations.assign_add(1.0)
        t = self.iterations
        lr = self.lr * tf.sqrt(1 - self.b2 ** t) / (1 - self.b1 ** t)
        for var, g, m, v in zip(self.variables, grads, self.m, self.v):
            g = tf.convert_to_tensor(g)  # the embedding's gradient is IndexedSlices
            m.assign_add((g - m) * (1 - self.b1))
            v.assign_add((tf.square(g) - v) * (1 - self.b2))
            var.assign_sub(lr * m / (tf.sqrt(v) + self.eps))


def call_chunk(forward, x, calls, graph=True):
    """A callable making ``calls`` forward calls (``tf.function`` or eager) on ``x``."""
    fn = tf.function(forward) if graph else forward
    x = tf.constant(np.asarray(x))

    def run():
        for _ in range(calls):
            fn(x)

    return run
