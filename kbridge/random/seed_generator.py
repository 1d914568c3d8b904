"""Seed state for the random ops: :class:`SeedGenerator`, the global generators, ``set_seed``.

A random op takes ``seed`` as

* an ``int``: the same numbers on every call (the per-call seed is ``[seed, 0]``);
* a :class:`SeedGenerator`: new numbers on every call (its counter advances);
* ``None``: the global generator of the backend (reseeded by :func:`set_seed`);
* a tensor of shape ``(2,)``: used as the per-call seed as is (e.g. traced under ``jax.jit``).

Each backend turns the per-call seed pair into its own RNG (``jax.random`` keys, a
``torch.Generator``, ``tf.random.stateless_*`` seeds, ``np.random.default_rng``), so a seed
reproduces numbers on one backend; different backends give different numbers.
"""

import random as _py_random
import sys

import numpy as np

from kbridge.backend.common import context
from kbridge.errors import KbridgeError

# Seeds live in int32 on every backend (TensorFlow's stateless ops and JAX without x64 both
# want 32-bit values), so user seeds are reduced modulo 2**31.
SEED_DTYPE = "int32"
_SEED_MODULUS = 2**31

# Source of default seeds for SeedGenerator(seed=None); reseeded by set_seed.
_default_seed_source = _py_random.Random()
_global_generators = {}


class SeedGenerator:
    """Random seed state: a variable holding ``[seed, counter]`` on the active backend.

    Each :meth:`next` call returns the current pair and advances the counter, so random ops
    given the same generator draw new numbers each time while staying reproducible from
    ``seed``.

    Args:
        seed: an int, or None for a seed drawn from the default source (fixed by
            :func:`set_seed`).
        name: the name of the state variable's owner.

    Example:
        >>> gen = kbridge.random.SeedGenerator(1337)
        >>> a = kbridge.random.normal((2,), seed=gen)
        >>> b = kbridge.random.normal((2,), seed=gen)   # different from a
    """

    def __init__(self, seed=None, name=None, **kwargs):
        backend = kwargs.pop("backend", None)
        if kwargs:
            raise KbridgeError(f"Unrecognized arguments for SeedGenerator: {sorted(kwargs)}")
        if seed is None:
            seed = _default_seed_source.randint(1, _SEED_MODULUS - 1)
        elif isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise ValueError(
                f"`seed` must be an int or None. Received: seed={seed!r} "
                f"(of type {type(seed).__name__})"
            )
        self.name = name or "seed_generator"
        self._initial_seed = int(seed)
        if backend is None:
            backend = context.get()
        with context.use(backend):
            self.state = _make_state_variable(backend, int(seed) % _SEED_MODULUS)
        self.backend = backend

    def next(self, ordered=True):
        """The current ``[seed, counter]`` (a tensor of the generator's backend); advances."""
        from kbridge.backend.common.dispatch import backend_module

        return backend_module(self.backend, "random").next_seed(self.state)

    def get_config(self):
        return {"seed": self._initial_seed, "name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<SeedGenerator name={self.name}, seed={self._initial_seed}, backend={self.backend}>"


def _make_state_variable(backend, seed):
    from kbridge.backend.common.dispatch import backend_module
    from kbridge.backend.common.variables import Variable

    make = getattr(backend_module(backend, "random"), "make_state_variable", None)
    value = np.array([seed, 0], SEED_DTYPE)
    if make is not None:
        return make(value)
    return Variable(value, dtype=SEED_DTYPE, trainable=False, name="seed_generator_state")


def global_seed_generator(backend):
    """The generator behind ``seed=None`` on ``backend`` (created on first use)."""
    gen = _global_generators.get(backend)
    if gen is None:
        gen = _global_generators[backend] = SeedGenerator(name="global_seed_generator",
                                                          backend=backend)
    return gen


def seed_pair(seed, backend):
    """``seed`` (int, None, SeedGenerator) as a ``[seed, counter]`` pair for ``backend``.

    Returns a Python ``(int, int)`` for an int seed, else a tensor (of ``backend``, or of the
    generator's backend when a generator from another backend is passed: the caller converts).
    """
    if seed is None:
        return global_seed_generator(backend).next()
    if isinstance(seed, SeedGenerator):
        return seed.next()
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        return (int(seed) % _SEED_MODULUS, 0)
    return seed  # a tensor: the backend validates it


def as_int_pair(pair):
    """A seed pair (tuple, or a concrete tensor of any backend) as two Python ints."""
    if isinstance(pair, tuple):
        return pair
    values = np.asarray(pair).reshape(-1).tolist()
    return (int(values[0]), int(values[1]) if len(values) > 1 else 0)


def set_seed(seed):
    """Seed everything random in this process: kbridge's generators, ``random``, numpy, and
    the global RNGs of torch / TensorFlow when they are already imported.

    Like ``keras.utils.set_random_seed``: after ``set_seed(s)``, ``seed=None`` random ops and
    ``SeedGenerator()`` without a seed give the same numbers as in any other run that called
    ``set_seed(s)`` at the same point.

    Example:
        >>> kbridge.random.set_seed(42)
        >>> a = kbridge.random.uniform((3,))
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"`seed` must be an int. Received: seed={seed!r}")
    seed = int(seed)
    _py_random.seed(seed)
    np.random.seed(seed % 2**32)
    _default_seed_source.seed(seed)
    _global_generators.clear()
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.manual_seed(seed)
    tf = sys.modules.get("tensorflow")
    if tf is not None and hasattr(tf, "random"):
        tf.random.set_seed(seed)
