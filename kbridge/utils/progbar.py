"""A Keras-style progress bar: ``12/50 ━━━━━━━━━━━━━━━━━━━━ 1s 25ms/step - loss: 0.31``.

With interactive logging disabled (``kbridge.config.disable_interactive_logging()``) the bar
writes its lines to Python's ``logging`` (logger ``"kbridge"``) instead of the stream.
"""

import logging
import sys
import time

from kbridge.errors import ArgumentError


def _fmt_time(seconds):
    if seconds >= 3600:
        return f"{int(seconds // 3600)}:{int(seconds % 3600 // 60):02d}:{int(seconds % 60):02d}"
    if seconds >= 60:
        return f"{int(seconds // 60)}:{int(seconds % 60):02d}"
    return f"{int(round(seconds))}s"


class Progbar:
    """Progress over ``target`` steps (None if unknown) with running averages of metrics.

    Args:
        target: total number of steps, or None.
        width: bar width in characters.
        verbose: 1 = live bar, 2 = one line at the end, 0 = silent.
        interval: least seconds between two redraws.
        stateful_metrics: names shown as given; every other value is averaged over the steps
            seen (Keras's default: all values averaged), except on the final update, which
            shows the values given.
        stateless_metrics: the opposite list: only these are averaged, the rest shown as given.
        unit_name: what a step is called in the rate ("step").
        stream: where the bar is written (``sys.stdout``).

    Example:
        >>> bar = kbridge.utils.Progbar(10, stateful_metrics=["acc"])
        >>> bar.update(5, [("loss", 1.0), ("acc", 0.5)])
    """

    def __init__(self, target, width=20, verbose=1, interval=0.05, stateful_metrics=None,
                 stateless_metrics=None, unit_name="step", stream=None):
        if stateful_metrics is not None and stateless_metrics is not None:
            raise ArgumentError(
                "Pass either `stateful_metrics` (the values not to average) or "
                "`stateless_metrics` (the values to average), not both. Received: "
                f"stateful_metrics={stateful_metrics!r}, stateless_metrics={stateless_metrics!r}")
        self.stateful_metrics = None if stateful_metrics is None and stateless_metrics is not \
            None else set(stateful_metrics or ())
        self.stateless_metrics = None if stateless_metrics is None else set(stateless_metrics)
        self.target = target
        self.width = width
        self.verbose = verbose
        self.interval = interval
        self.unit_name = unit_name
        self.stream = stream or sys.stdout
        self._values = {}
        self._sums = {}
        self._start = time.time()
        self._last_update = 0.0
        self._seen = 0
        self._dynamic = self.stream.isatty() if hasattr(self.stream, "isatty") else False

    def update(self, current, values=None, finalize=None):
        if finalize is None:
            finalize = self.target is not None and current >= self.target
        items = values.items() if isinstance(values, dict) else (values or ())
        steps = max(current - self._seen, 1)
        for name, value in items:
            if self._averaged(name) and not finalize:
                total, count = self._sums.get(name, (0.0, 0))
                self._sums[name] = (total + _as_float(value) * steps, count + steps)
                self._values[name] = self._sums[name][0] / self._sums[name][1]
            elif self._averaged(name):
                # The final update shows the value given (as Keras): it is the epoch's own
                # result, e.g. the averaged logs at the end of an epoch.
                self._sums[name] = (_as_float(value), 1)
                self._values[name] = value
            else:
                self._values[name] = value
        self._seen = current
        now = time.time()
        if self.verbose == 0 or (self.verbose == 2 and not finalize):
            return
        if not finalize and now - self._last_update < self.interval:
            return
        self._last_update = now
        elapsed = now - self._start
        per_step = elapsed / max(current, 1)
        if self.target is not None:
            done = int(self.width * min(current, self.target) / self.target)
            bar = "━" * done + "\x1b[2m" + "━" * (self.width - done) + "\x1b[0m" \
                if self._dynamic else "━" * done + " " * (self.width - done)
            head = f"{current:>{len(str(self.target))}}/{self.target} {bar}"
        else:
            head = f"{current}"
        if finalize:
            timing = f"{_fmt_time(elapsed)} {per_step * 1e3:.0f}ms/{self.unit_name}"
        else:
            eta = per_step * (self.target - current) if self.target else 0
            timing = f"{_fmt_time(eta)}" if self.target else f"{per_step * 1e3:.0f}ms/{self.unit_name}"
        metrics = " - ".join(f"{k}: {_fmt_value(v)}" for k, v in self._values.items())
        line = f"{head} {timing}" + (f" - {metrics}" if metrics else "")
        if not _interactive():
            if finalize:
                logging.getLogger("kbridge").info(line)
            return
        if self._dynamic or self.verbose == 2 or finalize:
            end = "\n" if finalize else ""
            self.stream.write(("\r" if self._dynamic else "") + line + end)
            self.stream.flush()

    def add(self, n, values=None):
        self.update(self._seen + n, values)

    def _averaged(self, name):
        if self.stateless_metrics is not None:
            return name in self.stateless_metrics
        return name not in self.stateful_metrics


def _interactive():
    from kbridge.utils.logging_utils import is_interactive_logging_enabled

    return is_interactive_logging_enabled()


def _as_float(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ArgumentError(
            f"Progbar averages numeric values; list non-numeric ones in `stateful_metrics`. "
            f"Received: {value!r}") from None


def _fmt_value(value):
    try:
        value = float(value)
    except (TypeError, ValueError):
        return str(value)
    return f"{value:.4f}" if abs(value) >= 1e-3 or value == 0 else f"{value:.4e}"
