"""The one place that times things: warm-up, interleaved rounds, medians.

Contenders that are compared with each other run in the same process and take turns: each
round times one chunk of every contender (in a rotated order), so a slow spell of a shared
machine lands on all of them rather than on whichever ran last.

Example:
    >>> result = interleave({"a": lambda: sum(range(100)), "b": lambda: sum(range(200))},
    ...                     rounds=5, warmup=1)
    >>> sorted(result), result["a"]["median_s"] > 0
    (['a', 'b'], True)
"""

import statistics
import time

__all__ = ["describe_error", "interleave", "per_call", "ratio"]


def describe_error(exc):
    """One line for a failed contender: the exception type and its most telling line
    (TensorFlow's first line is often just "in user code:", the cause comes last)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    line = lines[0] if lines else ""
    if line.endswith(":") and len(lines) > 1:
        line = lines[-1]
    return f"{type(exc).__name__}: {line[:200]}"


def _timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def interleave(contenders, rounds=7, warmup=1, per_chunk=1):
    """Time each of ``contenders`` (``{name: fn}``), round-robin, and report medians.

    Each ``fn()`` runs one chunk of work and returns when it is finished (block on
    asynchronous results inside it). ``warmup`` untimed chunks of every contender run first
    (compilation, caches); then ``rounds`` rounds each time one chunk of every contender, the
    order rotating by one each round. A contender that raises is dropped and its error kept.

    Args:
        contenders: ``{name: callable}``.
        rounds: timed chunks per contender.
        warmup: untimed chunks per contender before timing.
        per_chunk: units of work in one chunk (steps, calls); times are divided by it.

    Returns:
        ``{name: {"median_s", "min_s", "samples_s"}}`` in seconds per unit, or
        ``{name: {"error": text}}`` for a contender that failed.
    """
    if rounds < 1 or warmup < 0 or per_chunk < 1:
        raise ValueError("`rounds` and `per_chunk` must be >= 1 and `warmup` >= 0. Received: "
                         f"rounds={rounds}, warmup={warmup}, per_chunk={per_chunk}")
    names = list(contenders)
    errors, samples = {}, {name: [] for name in names}

    def attempt(name, record):
        try:
            elapsed = _timed(contenders[name])
        except Exception as exc:  # noqa: BLE001 - a broken contender is reported, not fatal
            errors[name] = describe_error(exc)
            return
        if record:
            samples[name].append(elapsed / per_chunk)

    for _ in range(warmup):
        for name in names:
            if name not in errors:
                attempt(name, record=False)
    for r in range(rounds):
        order = names[r % len(names):] + names[:r % len(names)] if names else []
        for name in order:
            if name not in errors:
                attempt(name, record=True)
    result = {}
    for name in names:
        if name in errors:
            result[name] = {"error": errors[name]}
        else:
            result[name] = {"median_s": statistics.median(samples[name]),
                            "min_s": min(samples[name]), "samples_s": samples[name]}
    return result


def per_call(fn, number=1000, repeat=7):
    """Median seconds per call of ``fn()`` over ``repeat`` timed loops of ``number`` calls."""
    return interleave({"fn": lambda: [fn() for _ in range(number)]}, rounds=repeat,
                      warmup=1, per_chunk=number)["fn"]["median_s"]


def ratio(results, numerator, denominator):
    """``median(numerator) / median(denominator)`` from :func:`interleave`'s output, or None."""
    a, b = results.get(numerator, {}), results.get(denominator, {})
    if "median_s" not in a or "median_s" not in b or not b["median_s"]:
        return None
    return a["median_s"] / b["median_s"]
