"""``PathMap``: a mapping from variable paths to values, whose keys are regular expressions.

The one lookup rule behind ``DTypePolicyMap``, ``OptimizerMap`` and ``LayoutMap``: a key equal
to the path wins; otherwise the single key that matches the path; otherwise the map's default.
A path matched by two keys is an error, and so is a key set twice.
"""

import re
from collections.abc import MutableMapping

from kbridge.errors import ArgumentError


class PathMap(MutableMapping):
    """Base class: subclasses set ``_error`` (the exception raised), may set ``_match``
    (``re.fullmatch`` by default, ``re.search`` for a key matching part of a path), and may
    override :meth:`_check` (validates and converts a value) and :meth:`_default`."""

    _error = ArgumentError
    _match = staticmethod(re.fullmatch)

    def __init__(self, entries=None, argument="entries"):
        if entries is not None and not isinstance(entries, dict):
            raise self._error(f"`{argument}` must be a dict of path -> value. "
                              f"Received: {type(entries).__name__}")
        self._entries = {}
        for key, value in (entries or {}).items():
            self[key] = value

    def _check(self, key, value):
        return value

    def _default(self):
        return None

    def __getitem__(self, path):
        if path in self._entries:
            return self._entries[path]
        matches = [key for key in self._entries if self._match(key, path)]
        if len(matches) > 1:
            raise self._error(f"Path {path!r} matches several keys of the "
                              f"{type(self).__name__}: {matches}. Expected at most one.")
        return self._entries[matches[0]] if matches else self._default()

    def __setitem__(self, key, value):
        if not isinstance(key, str):
            raise self._error(f"A {type(self).__name__} key must be a string (a path or a "
                              f"regular expression). Received: {key!r}")
        if key in self._entries:
            raise self._error(f"{key!r} is already in the {type(self).__name__} (with "
                              f"{self._entries[key]!r}); delete it first.")
        try:
            re.compile(key)
        except re.error as e:
            raise self._error(f"{type(self).__name__} keys are regular expressions; {key!r} "
                              f"is not one ({e}).") from None
        self._entries[key] = self._check(key, value)

    def __delitem__(self, key):
        del self._entries[key]

    def __len__(self):
        return len(self._entries)

    def __iter__(self):
        return iter(self._entries)
