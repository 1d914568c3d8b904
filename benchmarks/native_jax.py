"""Hand-written JAX versions of the workloads (``flax.linen``) and a ``jax.jit`` + optax loop.

The same loop trains ``kbridge.adapters.to_jax(model).apply``, so a ``fit`` on jax can be
set beside both a pure-flax model and kbridge's own pure function.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax


class _MLP(nn.Module):
    dims: tuple

    @nn.compact
    def __call__(self, x):
        for d in self.dims[1:-1]:
            x = nn.relu(nn.Dense(d)(x))
        return nn.Dense(self.dims[-1])(x)


class _CNN(nn.Module):
    filters: tuple
    classes: int

    @nn.compact
    def __call__(self, x):
        x = nn.relu(nn.Conv(self.filters[0], (3, 3), padding="VALID")(x))
        x = nn.relu(nn.Conv(self.filters[1], (3, 3), padding="VALID")(x))
        x = nn.max_pool(x, (2, 2), strides=(2, 2))
        return nn.Dense(self.classes)(x.reshape((x.shape[0], -1)))


class _Transformer(nn.Module):
    spec: dict

    @nn.compact
    def __call__(self, tokens):
        s = self.spec
        x = nn.Embed(s["vocab"], s["width"])(tokens)
        for _ in range(s["layers"]):
            attended = nn.MultiHeadDotProductAttention(num_heads=s["heads"])(x, x)
            x = nn.LayerNorm(epsilon=1e-5)(x + attended)
            h = nn.relu(nn.Dense(s["ff"])(x))
            x = nn.LayerNorm(epsilon=1e-5)(x + nn.Dense(s["width"])(h))
        return nn.Dense(s["classes"])(x.mean(axis=1))


def build(workload, spec, sample):
    """``(apply(params, x), params)`` of the ``workload`` network, initialised on ``sample``."""
    if workload in ("mlp", "latency"):
        net = _MLP(tuple(spec["dims"]))
    elif workload == "cnn":
        net = _CNN(tuple(spec["filters"]), spec["classes"])
    elif workload == "transformer":
        net = _Transformer(dict(spec))
    else:
        raise ValueError(f"No jax version of workload {workload!r}")
    params = net.init(jax.random.PRNGKey(0), jnp.asarray(sample))
    return net.apply, params


def train_chunk(apply, params, x, y, batch):
    """A callable running one jitted Adam step per ``batch`` rows of numpy ``(x, y)``.

    ``apply(params, xb)`` returns logits. Parameters and optimizer state are donated to the
    step, as a careful JAX user would.
    """
    optimizer = optax.adam(1e-3)
    state = {"params": params, "opt": optimizer.init(params)}
    batches = [(jnp.asarray(x[i:i + batch]), jnp.asarray(y[i:i + batch]))
               for i in range(0, len(x), batch)]

    def loss(p, xb, yb):
        logits = apply(p, xb)
        return optax.softmax_cross_entropy_with_integer_labels(logits, yb).mean()

    def step(p, opt_state, xb, yb):
        grads = jax.grad(loss)(p, xb, yb)
        updates, opt_state = optimizer.update(grads, opt_state, p)
        return optax.apply_updates(p, updates), opt_state

    step = jax.jit(step, donate_argnums=(0, 1))

    def run():
        p, o = state["params"], state["opt"]
        for xb, yb in batches:
            p, o = step(p, o, xb, yb)
        jax.block_until_ready(p)
        state["params"], state["opt"] = p, o

    return run


def call_chunk(apply, params, x, calls, jit=True):
    """A callable making ``calls`` forward calls (jitted or eager) on ``x``."""
    fn = jax.jit(apply) if jit else apply
    x = jnp.asarray(np.asarray(x))

    def run():
        out = None
        for _ in range(calls):
            out = fn(params, x)
        jax.block_until_ready(out)

    return run
