"""PyTorch backend: tensors, Variables (``torch.nn.Parameter``), conversion, dtype helpers."""

import numpy as np
import torch

from kbridge.backend.common import variables
from kbridge.backend.common.convert import dtype_of, to_numpy_array
from kbridge.backend.common.dtypes import result_type, standardize_dtype

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
        native = native.detach().clone()
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
        if param is not None and (param.is_floating_point() or param.is_complex()):
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
    arr = to_numpy_array(x, dtype)
    name = standardize_dtype(arr.dtype)
    if name == "bfloat16":  # torch cannot read ml_dtypes' bfloat16 buffers directly
        return torch.from_numpy(arr.astype(np.float32)).to(torch.bfloat16)
    if not arr.flags.writeable or arr.strides != tuple(arr.strides) or not arr.flags.c_contiguous:
        arr = np.ascontiguousarray(arr)
    if not arr.flags.writeable:
        arr = arr.copy()
    return torch.from_numpy(arr)


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


def cast(x, dtype):
    return convert_to_tensor(x, dtype)


def promote(*xs):
    """``xs`` as tensors of their common dtype (kbridge's table; Python scalars are weak)."""
    dt = to_torch_dtype(result_type(*[dtype_of(x) for x in xs]))
    return [x if isinstance(x, torch.Tensor) and x.dtype == dt else convert_to_tensor(x, dt)
            for x in xs]


def shape(x):
    return tuple(x.shape)


def dtype(x):
    return standardize_dtype(x.dtype)