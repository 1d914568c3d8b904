"""kbridge.tree against keras.tree (optree-based) on generated structures."""

import collections

import keras
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kbridge import tree

Point = collections.namedtuple("Point", ["x", "y"])
Other = collections.namedtuple("Other", ["x", "y"])


class MyList(list):
    """A list subclass: a leaf for both libraries."""


_leaves = st.one_of(st.integers(-5, 5), st.none(), st.text("ab", max_size=2),
                    st.builds(MyList, st.lists(st.integers(0, 3), max_size=2)))
_keys = st.one_of(st.text("abcd", min_size=1, max_size=2), st.integers(0, 5))


def _containers(children):
    return st.one_of(
        st.lists(children, max_size=3),
        st.lists(children, max_size=3).map(tuple),
        st.dictionaries(st.text("abcd", min_size=1, max_size=2), children, max_size=3),
        st.dictionaries(st.integers(0, 9), children, max_size=3),
        st.dictionaries(_keys, children, max_size=3),   # mixed key types
        st.dictionaries(st.text("abcd", min_size=1, max_size=2), children, max_size=3)
        .map(collections.OrderedDict),
        st.dictionaries(st.text("abcd", min_size=1), children, max_size=2)
        .map(lambda d: collections.defaultdict(list, d)),
        st.lists(children, max_size=3).map(lambda xs: collections.deque(xs, maxlen=5)),
        st.tuples(children, children).map(lambda t: Point(*t)),
    )


structures = st.recursive(_leaves, _containers, max_leaves=12)
_settings = settings(max_examples=80, deadline=None, derandomize=True, database=None,
                     suppress_health_check=list(HealthCheck))


def _same(a, b):
    """Equal values *and* equal types/key orders all the way down."""
    assert type(a) is type(b), (a, b)
    if isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            _same(a[k], b[k])
    elif isinstance(a, (list, tuple, collections.deque)) and not isinstance(a, MyList):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _same(x, y)
        if isinstance(a, collections.deque):
            assert a.maxlen == b.maxlen
    else:
        assert a == b


def _outcome(fn, *args, **kwargs):
    try:
        return ("ok", fn(*args, **kwargs))
    except (ValueError, TypeError) as e:
        return ("error", type(e).__mro__[1] if type(e).__module__.startswith("kbridge")
                else ValueError if isinstance(e, ValueError) else TypeError)


@_settings
@given(structures)
def test_flatten_paths_nested_pack_like_keras(s):
    assert tree.is_nested(s) == keras.tree.is_nested(s)
    _same(tree.flatten(s), keras.tree.flatten(s))
    assert tree.flatten_with_path(s) == keras.tree.flatten_with_path(s)
    flat = list(range(len(keras.tree.flatten(s))))
    _same(tree.pack_sequence_as(s, flat), keras.tree.pack_sequence_as(s, flat))
    _same(tree.lists_to_tuples(s), keras.tree.lists_to_tuples(s))


@_settings
@given(structures)
def test_map_structure_like_keras(s):
    def f(x):
        return ("leaf", x)

    _same(tree.map_structure(f, s), keras.tree.map_structure(f, s))
    _same(tree.map_structure(f, s, none_is_leaf=False),
          keras.tree.map_structure(f, s, none_is_leaf=False))
    _same(tree.map_structure(lambda a, b: (a, b), s, s),
          keras.tree.map_structure(lambda a, b: (a, b), s, s))
    _same(tree.map_shape_structure(f, s), keras.tree.map_shape_structure(f, s))


@_settings
@given(structures, structures)
def test_structure_checks_agree_with_keras(a, b):
    ours = _outcome(tree.assert_same_structure, a, b)
    theirs = _outcome(keras.tree.assert_same_structure, a, b)
    assert ours[0] == theirs[0], (a, b, ours, theirs)
    assert _outcome(tree.assert_same_paths, a, b)[0] == \
        _outcome(keras.tree.assert_same_paths, a, b)[0]
    ours = _outcome(tree.map_structure, lambda x, y: (x, y), a, b)
    theirs = _outcome(keras.tree.map_structure, lambda x, y: (x, y), a, b)
    assert ours[0] == theirs[0], (a, b, ours, theirs)
    if ours[0] == "ok":
        _same(ours[1], theirs[1])
    if None in tree.flatten(a):
        # keras.tree (optree) rejects None leaves in the shallow structure, against its own
        # documented example ``map_structure_up_to([None, None], len, ...)``; kbridge follows
        # the documentation (test_documented_examples).
        return
    ours = _outcome(tree.map_structure_up_to, a, lambda x: ("up", x), b)
    theirs = _outcome(keras.tree.map_structure_up_to, a, lambda x: ("up", x), b)
    assert ours[0] == theirs[0], (a, b, ours, theirs)
    if ours[0] == "ok":
        _same(ours[1], theirs[1])


@_settings
@given(structures)
def test_traverse_like_keras(s):
    def top(x):
        if isinstance(x, tuple) and len(x) == 2:
            return keras.tree.MAP_TO_NONE
        return "int" if isinstance(x, int) else None

    for top_down in (True, False):
        seen_ours, seen_theirs = [], []
        _same(tree.traverse(lambda x: seen_ours.append(x), s, top_down=top_down),
              keras.tree.traverse(lambda x: seen_theirs.append(x), s, top_down=top_down))
        assert len(seen_ours) == len(seen_theirs)
        _same(tree.traverse(top, s, top_down=top_down),
              keras.tree.traverse(top, s, top_down=top_down))


def test_documented_examples():
    assert tree.flatten({100: "world!", 6: "Hello"}) == ["Hello", "world!"]
    assert tree.map_structure_up_to([None, [None, None]], str, [[1, 1], [2, 2]]) == \
        ["[1, 1]", ["2", "2"]]
    assert tree.map_structure(lambda v: v * 2, Point(1, 2)) == Point(2, 4)
    with pytest.raises(ValueError, match="same nested structure"):
        tree.assert_same_structure(Point(0, 1), Other(2, 3))
    tree.assert_same_paths(Point(0, 1), Other(2, 3))
    with pytest.raises(ValueError, match="too few"):
        tree.pack_sequence_as([1, [2]], [1])
    with pytest.raises(ValueError, match="too many"):
        tree.pack_sequence_as([1, [2]], [1, 2, 3])
    assert tree.traverse(lambda x: tree.MAP_TO_NONE if x == 1 else None, [1, 2]) == [None, 2]
