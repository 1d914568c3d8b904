"""dtype names and the one promotion table every backend applies.

Dtypes are plain strings (``"float32"``), as in Keras 3. Promotion follows the JAX-style
type lattice that Keras 3 uses: the result of combining dtypes is their least upper bound in
the lattice below. Python scalars are *weak*: ``float32 tensor + 2.0`` stays ``float32`` and
``int8 tensor + 3`` stays ``int8``.
"""

import functools

import numpy as np

from kbridge.errors import DTypeError

FLOAT_TYPES = ("bfloat16", "float16", "float32", "float64")
INT_TYPES = ("uint8", "uint16", "uint32", "uint64", "int8", "int16", "int32", "int64")
COMPLEX_TYPES = ("complex64", "complex128")
ALLOWED_DTYPES = ("bool",) + INT_TYPES + FLOAT_TYPES + COMPLEX_TYPES + ("string",)

# Weak (Python scalar) types: they adopt the dtype of any strong operand of their kind.
WEAK_INT, WEAK_FLOAT, WEAK_COMPLEX = "int*", "float*", "complex*"

# Edges point from a dtype to the dtypes it may be promoted to.
_LATTICE = {
    "bool": ("int*",),
    "int*": ("uint8", "int8", "float*"),
    "uint8": ("int16", "uint16"),
    "uint16": ("int32", "uint32"),
    "uint32": ("int64", "uint64"),
    "uint64": ("float*",),
    "int8": ("int16",),
    "int16": ("int32",),
    "int32": ("int64",),
    "int64": ("float*",),
    "float*": ("bfloat16", "float16", "complex*"),
    "bfloat16": ("float32",),
    "float16": ("float32",),
    "float32": ("float64", "complex64"),
    "float64": ("complex128",),
    "complex*": ("complex64",),
    "complex64": ("complex128",),
    "complex128": (),
}

_floatx = "float32"
DEFAULT_INT = "int32"


def floatx():
    """The default float dtype (``"float32"`` unless changed by :func:`set_floatx`)."""
    return _floatx


def set_floatx(dtype):
    """Set the default float dtype; one of float16, bfloat16, float32, float64."""
    global _floatx
    dtype = standardize_dtype(dtype)
    if dtype not in FLOAT_TYPES:
        raise DTypeError(f"`floatx` must be one of {FLOAT_TYPES}. Received: dtype={dtype!r}")
    _floatx = dtype


@functools.lru_cache(maxsize=None)
def _upper_set(node):
    seen = {node}
    for parent in _LATTICE[node]:
        seen |= _upper_set(parent)
    return frozenset(seen)


@functools.lru_cache(maxsize=None)
def _join(a, b):
    common = _upper_set(a) & _upper_set(b)
    # The least upper bound is the common ancestor that every other common ancestor lies above.
    for node in common:
        if common <= _upper_set(node):
            return node
    raise DTypeError(f"No common dtype for {a!r} and {b!r}.")  # pragma: no cover


_PY_NAMES = {bool: "bool", int: DEFAULT_INT, float: None, complex: "complex64", str: "string"}


@functools.lru_cache(maxsize=256)
def _standardize_cached(dtype):
    if dtype in _PY_NAMES:
        return _PY_NAMES[dtype] or _floatx
    if isinstance(dtype, type) and issubclass(dtype, np.generic):  # np.int8, np.float32
        dtype = np.dtype(dtype)
    name = getattr(dtype, "name", None)
    if not isinstance(name, str):
        name = str(dtype)
    for prefix in ("torch.", "tf.", "<dtype: '"):
        if name.startswith(prefix):
            name = name[len(prefix):]
    name = name.rstrip("'>")
    name = {"double": "float64", "float": "float32", "half": "float16", "int": "int32",
            "long": "int64", "cfloat": "complex64", "bool_": "bool"}.get(name, name)
    if name not in ALLOWED_DTYPES:
        raise DTypeError(f"Unknown dtype. Expected one of {ALLOWED_DTYPES}. Received: {dtype!r}")
    return name


def standardize_dtype(dtype):
    """The kbridge name of ``dtype`` (a string, numpy/torch/tf/jax dtype or Python type).

    ``None`` means :func:`floatx`.

    Example:
        >>> standardize_dtype(torch.float16)
        'float16'
    """
    if dtype is None:
        return _floatx
    if dtype.__class__ is str and dtype in ALLOWED_DTYPES:
        return dtype
    try:
        return _standardize_cached(dtype)
    except TypeError:  # unhashable
        raise DTypeError(f"Unknown dtype. Expected one of {ALLOWED_DTYPES}. Received: {dtype!r}")


def weak_type_of(value):
    """The weak dtype of a Python scalar, or ``None`` when ``value`` is not one."""
    cls = value.__class__
    if cls is bool:
        return "bool"
    if cls is int:
        return WEAK_INT
    if cls is float:
        return WEAK_FLOAT
    if cls is complex:
        return WEAK_COMPLEX
    return None


_WEAK_DEFAULTS = {WEAK_INT: DEFAULT_INT, WEAK_COMPLEX: "complex64"}


def result_type(*dtypes):
    """The promoted dtype of ``dtypes`` (names, framework dtypes, or weak ``"int*"``/``"float*"``).

    Example:
        >>> result_type("int8", "uint8")
        'int16'
        >>> result_type("float16", "float*")
        'float16'
    """
    if not dtypes:
        return _floatx
    out = None
    for d in dtypes:
        d = d if d in _LATTICE else standardize_dtype(d)
        out = d if out is None else _join(out, d)
    if out == WEAK_FLOAT:
        return _floatx
    return _WEAK_DEFAULTS.get(out, out)


def is_float(dtype):
    return standardize_dtype(dtype) in FLOAT_TYPES


def is_int(dtype):
    return standardize_dtype(dtype) in INT_TYPES


def is_complex(dtype):
    return standardize_dtype(dtype) in COMPLEX_TYPES


def numpy_dtype(dtype):
    """The numpy dtype for a kbridge dtype name (bfloat16 through ``ml_dtypes``)."""
    import numpy as np

    name = standardize_dtype(dtype)
    if name == "bfloat16":
        import ml_dtypes

        return np.dtype(ml_dtypes.bfloat16)
    if name == "string":
        return np.dtype(object)
    return np.dtype(name)


_WEAK_BY_CLASS = {float: WEAK_FLOAT, int: WEAK_INT, bool: "bool", complex: WEAK_COMPLEX}


def promotion_key(x):
    """A hashable stand-in for ``x``'s dtype: the framework dtype object of a tensor, or the
    weak type of a Python scalar. Per-backend ``promote`` caches its result on these keys."""
    weak = _WEAK_BY_CLASS.get(x.__class__)
    if weak is not None:
        return weak
    dtype = getattr(x, "dtype", None)
    if dtype is not None:
        return dtype
    from kbridge.backend.common.convert import dtype_of

    return dtype_of(x)


def result_type_of_keys(keys):
    """:func:`result_type` of :func:`promotion_key` values (and the current floatx)."""
    return result_type(*[k if k in _LATTICE else standardize_dtype(k) for k in keys])
