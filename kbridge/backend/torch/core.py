"""PyTorch backend: tensors, Variables (``torch.nn.Parameter``), conversion, dtype helpers."""

import builtins
import contextlib

import numpy as np
import torch

from kbridge.backend.common import variables
from kbridge.backend.common.convert import to_numpy_array
from kbridge.backend.common.dtypes import promotion_key, standardize_dtype
from kbridge.backend.common.shared import include

NAME = "torch"
IS_DIFFERENTIABLE = True

TORCH_DTYPES = {
    "bool": torch.bool,
    "uint8": torch.uint8,
    "uint16": torch.uint16,
    "uint32": torch.uint32,
    "uint64": torch.uint64,
    "int8": torch.int8,
    "int16": torch.int16,
    "int32": torch.int32,
    "int64": torch.int64,
    "bfloat16": torch.bfloat16,
    "float16": torch.float16,
    "float32": torch.float32,
    "float64": torch.float64,
    "complex64": torch.complex64,
    "complex128": torch.complex128,
}


def to_torch_dtype(dtype):
    if isinstance(dtype, torch.dtype):
        return dtype
    return TORCH_DTYPES[standardize_dtype(dtype)]


def _unwrap(value):
    if isinstance(value, variables.Variable):
        return value.value
    if isinstance(value, (list, tuple)):
        return type(value)(_unwrap(v) for v in value)
    if isinstance(value, dict):
        return {k: _unwrap(v) for k, v in value.items()}
    return value


class Variable(variables.Variable):
    backend_name = "torch"

    def _to_native(self, value, dtype):
        return convert_to_tensor(value, dtype)

    def _initialize(self, native):
        self._adopt(native.detach().clone())

    def _adopt(self, native):
        grad = self._trainable and (native.is_floating_point() or native.is_complex())
        self._value = torch.nn.Parameter(native, requires_grad=grad)

    def _direct_assign(self, native):
        # In place, so the Parameter's identity (held by torch optimizers) is kept.
        with torch.no_grad():
            self._value.copy_(native)

    def numpy(self):
        return convert_to_numpy(self._value)

    @property
    def trainable(self):
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        self._trainable = bool(value)
        param = self.__dict__.get("_value")
        if isinstance(param, torch.Tensor) and (param.is_floating_point() or param.is_complex()):
            param.requires_grad_(self._trainable)

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        # Lets torch functions take a kbridge Variable wherever they take a tensor.
        return func(*_unwrap(args), **_unwrap(kwargs or {}))


def is_tensor(x):
    return isinstance(x, torch.Tensor)


def convert_to_tensor(x, dtype=None, sparse=None, ragged=None):
    if isinstance(x, variables.Variable):
        x = x.value if x.backend_name == "torch" else x.numpy()
    if isinstance(x, torch.Tensor):
        if dtype is None:
            return x
        dt = to_torch_dtype(dtype)
        return x if x.dtype == dt else x.to(dt)
    if dtype is not None and x.__class__ in (int, float, bool):
        return torch.tensor(x, dtype=to_torch_dtype(dtype))  # scalars skip the numpy detour
    arr = to_numpy_array(x, dtype)
    name = standardize_dtype(arr.dtype)
    if name == "bfloat16":  # torch cannot read ml_dtypes' bfloat16 buffers directly
        return torch.from_numpy(arr.astype(np.float32)).to(torch.bfloat16)
    if not (arr.flags.writeable and arr.flags.c_contiguous):
        arr = np.array(arr, order="C")  # a copy torch may own (0-d arrays stay 0-d)
    tensor = torch.from_numpy(arr)
    device = torch.get_default_device()  # set by kbridge.device("cuda:0") scopes
    return tensor if device.type == "cpu" else tensor.to(device)


def convert_to_numpy(x):
    if isinstance(x, variables.Variable):
        x = x.value
    if isinstance(x, torch.Tensor):
        x = x.detach()
        if x.device.type != "cpu":
            x = x.cpu()
        if x.dtype == torch.bfloat16:
            import ml_dtypes

            return x.float().numpy().astype(ml_dtypes.bfloat16)
        return x.numpy()
    return np.asarray(x)


_WEAK_KEYS = {cls: promotion_key(cls()) for cls in (float, int, bool, complex)}


def _promotion_key(x):
    # ``promotion_key`` with the Python-scalar case looked up by ``type(x)``, which Dynamo
    # traces (it cannot look up ``x.__class__`` of a constant).
    cls = type(x)
    if cls is float or cls is int or cls is bool or cls is complex:
        return _WEAK_KEYS[cls]
    return promotion_key(x)


_SCALARS = {}  # (class, value, dtype) -> 0-d tensor: the constants ops use over and over


def _scalar_or_convert(x, dt):
    cls = type(x)  # not ``x.__class__``: Dynamo cannot look that up for Python constants
    if cls is int or cls is float or cls is bool:
        if torch.compiler.is_compiling():  # a constant of the traced graph, never cached
            return torch.tensor(x, dtype=dt)
        key = (cls, x, dt)
        t = _SCALARS.get(key)
        if t is None:
            if len(_SCALARS) > 4096:
                _SCALARS.clear()
            t = _SCALARS[key] = torch.tensor(x, dtype=dt)
        return t
    return convert_to_tensor(x, dt)


# --- control flow: Python loops (torch runs eagerly) -----------------------------------------
include("core", globals(), tensor_types=torch.Tensor, native_dtype=to_torch_dtype,
        to_dtype=_scalar_or_convert, promotion_key_of=_promotion_key,
        loop_scope=contextlib.nullcontext)


def vectorized_map(function, elements):
    try:
        return torch.vmap(function)(elements)
    except RuntimeError:
        # torch.vmap rejects functions that read values (``.item()``, data-dependent
        # control flow); a loop gives the same result, only slower.
        return loop_map(function, elements)


def stop_gradient(variable):
    return variable.detach() if isinstance(variable, torch.Tensor) else variable


class _CustomGradient(torch.autograd.Function):
    @staticmethod
    def forward(ctx, fn, *args):
        output, ctx.grad_fn = fn(*args)
        return output

    @staticmethod
    def backward(ctx, *upstream):
        grads = ctx.grad_fn(*upstream)
        if not isinstance(grads, (tuple, list)):
            grads = (grads,)
        return (None, *grads)


def _custom_gradient(f, args, kwargs):
    fn = (lambda *a: f(*a, **kwargs)) if kwargs else f
    return _CustomGradient.apply(fn, *args)


# --- slices and scatters -------------------------------------------------------------------
def slice_update(inputs, start_indices, updates):
    inputs = convert_to_tensor(inputs)
    updates = convert_to_tensor(updates, inputs.dtype)
    out = inputs.clone()
    out[tuple(builtins.slice(int(s), int(s) + n)
              for s, n in zip(start_indices, updates.shape))] = updates
    return out


def _index_rows(indices):
    indices = convert_to_tensor(indices).long()
    depth = indices.shape[-1]
    return tuple(indices.reshape(-1, depth).unbind(1)), depth


_SCATTER_REDUCE = {"mul": "prod", "max": "amax", "min": "amin"}


def scatter_update(inputs, indices, updates, reduction=None):
    inputs = convert_to_tensor(inputs)
    rows, depth = _index_rows(indices)
    updates = convert_to_tensor(updates, inputs.dtype).reshape((-1,) + inputs.shape[depth:])
    if reduction is None or reduction == "add":
        return inputs.index_put(rows, updates, accumulate=reduction == "add")
    if reduction not in _SCATTER_REDUCE:
        raise ValueError(
            "`reduction` must be None, 'add', 'mul', 'max' or 'min'. "
            f"Received: reduction={reduction!r}"
        )
    # scatter_reduce works along one axis: view the k indexed axes as one flat axis.
    lead = inputs.shape[:depth]
    flat_index = torch.zeros_like(rows[0])
    for r, size in zip(rows, lead):
        flat_index = flat_index * size + r
    flat = inputs.reshape((-1,) + tuple(inputs.shape[depth:]))
    index = flat_index.reshape((-1,) + (1,) * (updates.dim() - 1)).expand_as(updates)
    out = flat.scatter_reduce(0, index, updates, _SCATTER_REDUCE[reduction], include_self=True)
    return out.reshape(inputs.shape)


def unstack(x, num=None, axis=0):
    return list(torch.unbind(convert_to_tensor(x), axis))

