"""``kbridge.random``: seeded random ops, as in ``keras.random``.

Every op takes ``seed``: an int (same numbers each call), a :class:`SeedGenerator` (new
numbers each call, reproducible from its seed), ``None`` (the backend's global generator,
reseeded by :func:`set_seed`), or a ``(2,)`` int tensor. Ops without tensor arguments run on
the active backend. See :mod:`kbridge.random.seed_generator`.

Example:
    >>> gen = kbridge.random.SeedGenerator(0)
    >>> with kbridge.backend.use("torch"):
    ...     x = kbridge.random.normal((2, 3), seed=7)          # a torch.Tensor
    >>> kbridge.random.set_seed(1)                            # like keras.utils.set_random_seed
"""

from kbridge.backend.common.dispatch import op_decorator
from kbridge.random.seed_generator import SeedGenerator, set_seed

op = op_decorator("random")

__all__ = [
    "SeedGenerator",
    "beta",
    "binomial",
    "categorical",
    "dropout",
    "gamma",
    "normal",
    "randint",
    "set_seed",
    "shuffle",
    "truncated_normal",
    "uniform",
]


@op
def normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    """Samples from a normal distribution with ``mean`` and ``stddev``; dtype defaults to
    ``floatx()``."""


@op
def uniform(shape, minval=0.0, maxval=1.0, dtype=None, seed=None):
    """Samples uniformly from ``[minval, maxval)``; ``dtype`` must be a float type."""


@op
def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    """Samples from a normal distribution, redrawing values more than two ``stddev`` away
    from ``mean``."""


@op
def randint(shape, minval, maxval, dtype="int32", seed=None):
    """Samples integers uniformly from ``[minval, maxval)``.

    Example:
        >>> kbridge.random.randint((4,), 0, 10, seed=1)   # four ints in 0..9
    """


@op
def dropout(inputs, rate, noise_shape=None, seed=None):
    """Zero each entry of ``inputs`` with probability ``rate``; scale the rest by
    ``1 / (1 - rate)`` so the expected value is unchanged.

    ``noise_shape`` (broadcastable to ``inputs.shape``; ``None`` entries take the input's
    size) shares one keep/drop decision along the axes where it is 1.

    Example:
        >>> kbridge.random.dropout(np.ones((2, 4), "float32"), 0.5, noise_shape=(2, 1), seed=3)
    """


@op
def shuffle(x, axis=0, seed=None):
    """``x`` with its slices along ``axis`` in a random order."""


@op
def categorical(logits, num_samples, dtype="int32", seed=None):
    """``num_samples`` class indices per row of ``logits`` (shape ``(batch, classes)``),
    drawn with probabilities ``softmax(logits)``; returns shape ``(batch, num_samples)``.

    Example:
        >>> kbridge.random.categorical(np.log([[0.1, 0.9]]), 5, seed=0)   # mostly class 1
    """


@op
def gamma(shape, alpha, dtype=None, seed=None):
    """Samples from the gamma distribution with concentration ``alpha`` and scale 1."""


@op
def beta(shape, alpha, beta, dtype=None, seed=None):
    """Samples from the beta distribution with parameters ``alpha`` and ``beta``."""


@op
def binomial(shape, counts, probabilities, dtype=None, seed=None):
    """Samples the number of successes in ``counts`` trials of success probability
    ``probabilities``; returned as ``dtype`` (default ``floatx()``)."""
