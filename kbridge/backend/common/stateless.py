"""``StatelessScope``: run stateful code (layers, optimizers, metrics) as a pure function.

Inside ``with StatelessScope({variable: value, ...}) as scope:`` every listed Variable reads
as the given value, and ``assign`` rebinds instead of mutating, so nothing outside changes.
``scope.value_of(v)`` gives the value ``v`` ended with. This is how ``stateless_call``,
``Optimizer.stateless_apply`` and ``Metric.stateless_update_state`` work, and why they can be
traced by ``jax.jit``: values may be tracers.
"""

import contextvars

_current = contextvars.ContextVar("kbridge_stateless_scope", default=None)


def in_stateless_scope():
    return _current.get() is not None


def current_scope():
    return _current.get()


class StatelessScope:
    """Swap Variable values in for the duration of a ``with`` block.

    Args:
        mapping: ``{Variable: value}`` or an iterable of ``(Variable, value)`` pairs.
    """

    def __init__(self, mapping=()):
        pairs = mapping.items() if isinstance(mapping, dict) else mapping
        self._pairs = [(v, value) for v, value in pairs]
        self._saved = []
        self._token = None
        self._touched = {}

    def __enter__(self):
        for v, value in self._pairs:
            self._saved.append((v, v._value))
            v._value = v._to_native_stateless(value)
        self._token = _current.set(self)
        return self

    def record(self, variable):
        """Called by ``Variable.assign`` inside the scope."""
        if id(variable) not in self._touched:
            self._touched[id(variable)] = variable
            if all(variable is not v for v, _ in self._saved):
                self._saved.append((variable, variable._value))

    def value_of(self, variable):
        return variable._value

    def __exit__(self, *exc):
        self._final = {id(v): v._value for v, _ in self._saved}
        for v, old in reversed(self._saved):
            v._value = old
        _current.reset(self._token)
        return False

    def final_value(self, variable):
        """The value ``variable`` had when the scope closed."""
        return self._final.get(id(variable), variable._value)
