"""``kbridge.tree``: nested-structure utilities with Keras 3's ``keras.tree`` semantics.

Pure Python. A structure is made of *nodes* and *leaves*. Nodes are exactly ``list``,
``tuple``, ``dict``, ``collections.OrderedDict``, ``collections.defaultdict``,
``collections.deque``, namedtuples and structseqs (``time.struct_time``); everything else,
including subclasses of ``list``/``dict`` and strings, is a leaf. ``None`` is a leaf unless
``map_structure(..., none_is_leaf=False)``.

Dicts (and defaultdicts) give their values in sorted-key order; an ``OrderedDict`` gives its
own order. Rebuilt dicts keep the original key order.

Example:
    >>> kbridge.tree.flatten({"b": [1, 2], "a": 3})
    [3, 1, 2]
    >>> kbridge.tree.map_structure(lambda x: x * 2, {"b": (1, 2), "a": 3})
    {'b': (2, 4), 'a': 6}
"""

import collections

from kbridge.errors import KbridgeError

__all__ = [
    "MAP_TO_NONE", "assert_same_paths", "assert_same_structure", "flatten",
    "flatten_with_path", "is_nested", "lists_to_tuples", "map_shape_structure",
    "map_structure", "map_structure_up_to", "pack_sequence_as", "traverse",
]


class StructureError(KbridgeError, ValueError):
    """Two structures do not match, or a flat sequence does not fit a structure."""


class MAP_TO_NONE:  # noqa: N801 - Keras's name
    """Return this class from a ``traverse`` function to put ``None`` in that place."""


_DICTS = (dict, collections.OrderedDict, collections.defaultdict)


def _kind(x, none_is_leaf=True):
    """The node kind of ``x`` or None for a leaf."""
    t = type(x)
    if t is list:
        return "list"
    if t is tuple:
        return "tuple"
    if t is dict or t is collections.defaultdict:
        return "dict"
    if t is collections.OrderedDict:
        return "odict"
    if t is collections.deque:
        return "deque"
    if x is None:
        return None if none_is_leaf else "none"
    if isinstance(x, tuple):
        if hasattr(t, "_fields") and isinstance(t._fields, tuple):
            return "namedtuple"
        if hasattr(t, "n_sequence_fields"):
            return "structseq"
    return None


def _sorted_keys(d):
    keys = list(d)
    try:
        return sorted(keys)
    except TypeError:
        pass
    try:  # mixed key types: group by type name, then sort within a type
        return sorted(keys, key=lambda k: (type(k).__qualname__, k))
    except TypeError:
        return keys


def _keys(x, kind):
    """The child keys of node ``x`` (path entries), in flattening order."""
    if kind == "dict":
        return _sorted_keys(x)
    if kind == "odict":
        return list(x)
    if kind == "none":
        return []
    return list(range(len(x)))


def _children(x, kind):
    if kind in ("dict", "odict"):
        return [x[k] for k in _keys(x, kind)]
    if kind == "none":
        return []
    return list(x)


def _rebuild(x, kind, children):
    """A node like ``x`` holding ``children`` (in flattening order)."""
    if kind == "list":
        return list(children)
    if kind == "tuple":
        return tuple(children)
    if kind == "namedtuple":
        return type(x)(*children)
    if kind == "structseq":
        return type(x)(tuple(children))
    if kind == "deque":
        return collections.deque(children, maxlen=x.maxlen)
    if kind == "none":
        return None
    by_key = dict(zip(_keys(x, kind), children))
    if kind == "odict":
        return collections.OrderedDict((k, by_key[k]) for k in x)
    if type(x) is collections.defaultdict:
        out = collections.defaultdict(x.default_factory)
        out.update((k, by_key[k]) for k in x)
        return out
    return {k: by_key[k] for k in x}  # the original insertion order


def is_nested(structure):
    """Whether ``structure`` is a node (list, tuple, dict, namedtuple, deque ...), not a leaf.

    Example:
        >>> kbridge.tree.is_nested([]), kbridge.tree.is_nested("ab"), kbridge.tree.is_nested(None)
        (True, False, False)
    """
    return _kind(structure) is not None


def flatten(structure):
    """The leaves of ``structure``, depth first (dict values in sorted-key order).

    Example:
        >>> kbridge.tree.flatten([[1, 2], {"b": 3, "a": None}])
        [1, 2, None, 3]
    """
    out = []

    def walk(x):
        kind = _kind(x)
        if kind is None:
            out.append(x)
        else:
            for child in _children(x, kind):
                walk(child)

    walk(structure)
    return out


def flatten_with_path(structure):
    """``[(path, leaf), ...]``; a path is the tuple of indices/keys leading to the leaf.

    Example:
        >>> kbridge.tree.flatten_with_path([{"foo": 42}])
        [((0, 'foo'), 42)]
    """
    out = []

    def walk(x, path):
        kind = _kind(x)
        if kind is None:
            out.append((path, x))
        else:
            for key, child in zip(_keys(x, kind), _children(x, kind)):
                walk(child, path + (key,))

    walk(structure, ())
    return out


def _mismatch(a, b, why):
    return StructureError(
        f"The two structures don't have the same nested structure: {why}.\n"
        f"First structure: {a!r}\nSecond structure: {b!r}")


def _match(x, kind, other, none_is_leaf):
    """The children of ``other`` matching node ``x`` (of ``kind``), or a StructureError."""
    other_kind = _kind(other, none_is_leaf)
    dict_like = ("dict", "odict")
    if kind in dict_like:
        if other_kind not in dict_like:
            raise _mismatch(x, other, f"expected a dict, got {type(other).__name__}")
        if set(x) != set(other):
            raise _mismatch(x, other, f"dict keys differ: {sorted(map(repr, x))} vs "
                                      f"{sorted(map(repr, other))}")
        return [other[k] for k in _keys(x, kind)]
    if other_kind != kind or (kind in ("namedtuple", "structseq") and type(x) is not type(other)):
        raise _mismatch(x, other, f"expected {type(x).__name__}, got {type(other).__name__}")
    if len(x) != len(other) if kind != "none" else False:
        raise _mismatch(x, other, f"lengths differ ({len(x)} vs {len(other)})")
    return _children(other, other_kind)


def _map(func, tree, rests, none_is_leaf, leaf_check):
    kind = _kind(tree, none_is_leaf)
    if kind is None:
        if leaf_check:
            for r in rests:
                if _kind(r, none_is_leaf) is not None:
                    raise _mismatch(tree, r, "a leaf faces a nested structure")
        return func(tree, *rests)
    matched = [_match(tree, kind, r, none_is_leaf) for r in rests]
    children = [_map(func, c, [m[i] for m in matched], none_is_leaf, leaf_check)
                for i, c in enumerate(_children(tree, kind))]
    return _rebuild(tree, kind, children)


def map_structure(func, *structures, none_is_leaf=True):
    """Apply ``func`` to the leaves of ``structures`` (all with the same layout).

    Args:
        func: called with one leaf from each structure.
        *structures: structures of identical layout (dict, OrderedDict and defaultdict with
            the same keys match each other; list and tuple do not).
        none_is_leaf: when False, ``None`` is kept as is and not passed to ``func``.

    Example:
        >>> kbridge.tree.map_structure(lambda x, y: x + y, [1, (2, 3)], [10, (20, 30)])
        [11, (22, 33)]
    """
    if not structures:
        raise StructureError("map_structure needs at least one structure. Received none.")
    if not callable(func):
        raise TypeError(f"`func` must be callable. Received: func={func!r}")
    return _map(func, structures[0], structures[1:], none_is_leaf, leaf_check=True)


def map_structure_up_to(shallow_structure, func, *structures):
    """``map_structure`` down to the leaves of ``shallow_structure`` only; deeper parts of
    ``structures`` are passed to ``func`` whole.

    Example:
        >>> kbridge.tree.map_structure_up_to([None, None], len, [[1, 1], [2, 2, 2]])
        [2, 3]
    """
    if not structures:
        raise StructureError("map_structure_up_to needs at least one structure. Received none.")
    return _map(lambda _, *xs: func(*xs), shallow_structure, structures, True,
                leaf_check=False)


def assert_same_structure(a, b, check_types=None):
    """Raise ``ValueError`` unless ``a`` and ``b`` nest the same way.

    Node types must match (list vs tuple differ, two namedtuple classes differ); dict,
    OrderedDict and defaultdict match when their keys do. ``check_types`` is accepted for
    Keras compatibility and has no effect (as in Keras 3).

    Example:
        >>> kbridge.tree.assert_same_structure([(0, 1)], [(2, 3)])
    """
    del check_types
    _map(lambda *_: None, a, [b], True, leaf_check=True)


def assert_same_paths(a, b):
    """Raise ``ValueError`` unless ``a`` and ``b`` have the same leaf paths (node types may
    differ: ``[0, 1]`` and ``(2, 3)`` match).

    Example:
        >>> kbridge.tree.assert_same_paths([0, 1], (2, 3))
    """
    a_paths = {p for p, _ in flatten_with_path(a)}
    b_paths = {p for p, _ in flatten_with_path(b)}
    if a_paths != b_paths:
        msg = "`a` and `b` don't have the same paths."
        if a_paths - b_paths:
            msg += f"\nPaths in `a` missing in `b`:\n{a_paths - b_paths}"
        if b_paths - a_paths:
            msg += f"\nPaths in `b` missing in `a`:\n{b_paths - a_paths}"
        raise StructureError(msg)


def pack_sequence_as(structure, flat_sequence):
    """Put the items of ``flat_sequence`` into the layout of ``structure`` (the inverse of
    ``flatten``).

    Example:
        >>> kbridge.tree.pack_sequence_as({"b": 0, "a": 0}, [1, 2])
        {'b': 2, 'a': 1}
    """
    try:
        flat = list(flat_sequence)
    except TypeError:
        raise TypeError("`flat_sequence` must be iterable. "
                        f"Received: {type(flat_sequence).__name__}") from None
    position = [0]

    def build(x):
        kind = _kind(x)
        if kind is None:
            if position[0] >= len(flat):
                raise StructureError(
                    f"`flat_sequence` has too few items ({len(flat)}) for the structure "
                    f"{structure!r}, which has {len(flatten(structure))} leaves.")
            position[0] += 1
            return flat[position[0] - 1]
        return _rebuild(x, kind, [build(c) for c in _children(x, kind)])

    out = build(structure)
    if position[0] != len(flat):
        raise StructureError(
            f"`flat_sequence` has too many items ({len(flat)}) for the structure "
            f"{structure!r}, which has {position[0]} leaves.")
    return out


def traverse(func, structure, top_down=True):
    """Visit every sub-structure (depth first) and optionally replace it.

    Top-down, ``func(sub)`` returning None descends into ``sub``; anything else replaces it
    (``MAP_TO_NONE`` for a ``None``). Bottom-up, children are visited first and a non-None
    result replaces the (already traversed) sub-structure.

    Example:
        >>> kbridge.tree.traverse(lambda x: "x" if x == 2 else None, [1, (2, 3)])
        [1, ('x', 3)]
    """
    if not callable(func):
        raise TypeError(f"`func` must be callable. Received: func={func!r}")

    def visit(x):
        def children():
            kind = _kind(x)
            if kind is None:
                return x
            return _rebuild(x, kind, [visit(c) for c in _children(x, kind)])

        if top_down:
            ret = func(x)
            if ret is None:
                return children()
        else:
            done = children()
            ret = func(done)
            if ret is None:
                return done
        # Keras's own ``keras.tree.MAP_TO_NONE`` works too (same class name).
        if isinstance(ret, type) and ret.__name__ == "MAP_TO_NONE":
            return None
        return ret

    return visit(structure)


def lists_to_tuples(structure):
    """The same structure with every list turned into a tuple.

    Example:
        >>> kbridge.tree.lists_to_tuples([1, [2, {"a": [3]}]])
        (1, (2, {'a': (3,)}))
    """
    return traverse(lambda x: tuple(x) if isinstance(x, list) else None, structure,
                    top_down=False)


def _is_shape(x):
    return isinstance(x, (list, tuple)) and all(isinstance(e, (int, type(None))) for e in x)


def map_shape_structure(func, structure):
    """``map_structure`` where lists/tuples of ints and ``None`` (shapes) are leaves.

    Example:
        >>> kbridge.tree.map_shape_structure(lambda s: s[0], {"a": (2, 3), "b": [(4,), (5, None)]})
        {'a': 2, 'b': [4, 5]}
    """
    def walk(x):
        kind = None if _is_shape(x) else _kind(x)
        if kind is None:
            return func(x)
        return _rebuild(x, kind, [walk(c) for c in _children(x, kind)])

    return walk(structure)
