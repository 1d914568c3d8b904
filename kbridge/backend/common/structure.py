"""Nested lists, tuples and dicts of values, walked in their own order (dicts in insertion
order, unlike :mod:`kbridge.tree`, which sorts keys as Keras's ``tree`` does): the inputs,
outputs and batches that dispatch, trainers and layers pass around."""


def flatten(value):
    """The leaves of ``value``, depth first."""
    if isinstance(value, (list, tuple)):
        return [leaf for v in value for leaf in flatten(v)]
    if isinstance(value, dict):
        return [leaf for k in value for leaf in flatten(value[k])]
    return [value]


def map_structure(fn, value):
    """``value`` with ``fn`` applied to every leaf, containers rebuilt with their types."""
    if isinstance(value, (list, tuple)):
        return type(value)(map_structure(fn, v) for v in value)
    if isinstance(value, dict):
        return {k: map_structure(fn, v) for k, v in value.items()}
    return fn(value)
