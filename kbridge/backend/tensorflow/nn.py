"""tensorflow backend: nn ops (activations, convolution, pooling, normalisation, losses, attention).

The ops composed of other ops are in the shared module; here are the ones TF runs as kernels.
Convolutions always run channels-last with explicit padding: TF's CPU kernels reject NCHW and
grouped convolutions, and refuse strides > 1 together with dilation > 1, so those cases are
rewritten (transpose, per-group split, stride-1 conv then subsample).
"""

import tensorflow as tf

from kbridge.backend.common.dtypes import floatx, result_type
from kbridge.backend.common.shared import include
from kbridge.backend.tensorflow.core import convert_to_tensor, to_tf_dtype
from kbridge.backend.tensorflow.math import _as_float as _float
from kbridge.errors import ArgumentError


include("nn", globals(), einsum=tf.einsum)


# Explicit layouts: TF's eager gradients of the 3D ops read the data_format attribute, which
# is unset (None) when the caller leaves it to the default.
_LAYOUT = {1: "NWC", 2: "NHWC", 3: "NDHWC"}


# ----------------------------------------------------------------------------- activations

def relu(x):
    return tf.nn.relu(convert_to_tensor(x))


def relu6(x):
    return tf.nn.relu6(convert_to_tensor(x))


def sigmoid(x):
    return tf.sigmoid(_float(x))


def softplus(x):  # TF has fused kernels for this and the activations below
    return tf.nn.softplus(_float(x))


def log_sigmoid(x):
    return tf.math.log_sigmoid(_float(x))


def gelu(x, approximate=True):
    return tf.nn.gelu(_float(x), approximate=approximate)


def softmax(x, axis=-1):
    x = _float(x)
    if isinstance(axis, (list, tuple)):
        e = tf.exp(x - tf.reduce_max(x, axis=list(axis), keepdims=True))
        return e / tf.reduce_sum(e, axis=list(axis), keepdims=True)
    return tf.nn.softmax(x, axis=axis)


def log_softmax(x, axis=-1):
    x = _float(x)
    if isinstance(axis, (list, tuple)):
        return x - tf.reduce_logsumexp(x, axis=list(axis), keepdims=True)
    return tf.nn.log_softmax(x, axis=axis)


# ----------------------------------------------------------------------------- convolution

def _pad_spatial(x, pads, value=0):
    if all(p == (0, 0) for p in pads):
        return x
    return tf.pad(x, [[0, 0]] + [list(p) for p in pads] + [[0, 0]], constant_values=value)


def _conv_cl(x, kernel, strides, pads, dilation):
    """Grouped channels-last conv with explicit (left, right) pads."""
    x = _pad_spatial(x, pads)
    groups = _groups(x.shape[-1], kernel)
    subsample = any(s > 1 for s in strides) and any(d > 1 for d in dilation)
    step = (1,) * len(strides) if subsample else strides

    def one(xg, kg):
        return tf.nn.convolution(xg, kg, strides=step, padding="VALID", dilations=dilation,
                                 data_format=_LAYOUT[len(strides)])

    if groups == 1:
        y = one(x, kernel)
    else:
        xs = tf.split(x, groups, axis=-1)
        ks = tf.split(kernel, groups, axis=-1)
        y = tf.concat([one(a, b) for a, b in zip(xs, ks)], axis=-1)
    if subsample:
        y = y[(slice(None),) + tuple(slice(None, None, s) for s in strides)]
    return y


_grouped_depthwise_cl = _depthwise_cl


def _depthwise_cl(x, kernel, strides, pads, dilation):
    # tf has a fused kernel in 2D (without strides > 1 together with dilation > 1)
    if len(strides) == 2 and not (any(s > 1 for s in strides) and any(d > 1 for d in dilation)):
        return tf.nn.depthwise_conv2d(_pad_spatial(x, pads), kernel, (1,) + strides + (1,),
                                      "VALID", dilations=dilation, data_format="NHWC")
    return _grouped_depthwise_cl(x, kernel, strides, pads, dilation)


def _interleave_zeros(x, axis, stride):
    """Insert ``stride - 1`` zeros between elements of ``x`` along ``axis``."""
    if stride == 1:
        return x
    n = x.shape[axis]
    expanded = tf.expand_dims(x, axis + 1)
    zeros_shape = list(expanded.shape)
    zeros_shape[axis + 1] = stride - 1
    if zeros_shape[0] is None:
        zeros_shape[0] = tf.shape(x)[0]
    stacked = tf.concat([expanded, tf.zeros(zeros_shape, x.dtype)], axis=axis + 1)
    shape = tf.unstack(tf.shape(x))
    shape[axis] = n * stride
    merged = tf.reshape(stacked, tf.stack(shape))
    index = [slice(None)] * x.shape.rank
    index[axis] = slice(0, (n - 1) * stride + 1)
    return merged[tuple(index)]


def _dilate_cl(x, strides):
    for axis, stride in enumerate(strides, 1):
        x = _interleave_zeros(x, axis, stride)
    return x


# ----------------------------------------------------------------------------- pooling

def _pool_args(inputs, pool_size, strides, padding, data_format):
    inputs, pool_size, strides, padding, data_format = _pooling_args(
        inputs, pool_size, strides, padding, data_format)
    return _to_channels_last(inputs, data_format), pool_size, strides, padding.upper(), data_format


def max_pool(inputs, pool_size, strides=None, padding="valid", data_format=None):
    x, pool_size, strides, padding, data_format = _pool_args(
        inputs, pool_size, strides, padding, data_format)
    y = tf.nn.max_pool(x, pool_size, strides, padding, data_format=_LAYOUT[len(pool_size)])
    return _from_channels_last(y, data_format)


def average_pool(inputs, pool_size, strides=None, padding="valid", data_format=None):
    x, pool_size, strides, padding, data_format = _pool_args(
        _float(inputs), pool_size, strides, padding, data_format)
    # TF's 'SAME' average already excludes the padding from the count.
    y = tf.nn.avg_pool(x, pool_size, strides, padding, data_format=_LAYOUT[len(pool_size)])
    return _from_channels_last(y, data_format)


# ----------------------------------------------------------------------------- encodings

# TF has a fused kernel: tf.one_hot
def one_hot(x, num_classes, axis=-1, dtype=None, sparse=False):
    if sparse:
        raise ArgumentError("`sparse=True` is not supported by the tensorflow backend's one_hot.")
    x = convert_to_tensor(x)
    return tf.one_hot(x, num_classes, axis=axis, dtype=to_tf_dtype(dtype or floatx()))


# ----------------------------------------------------------------------------- misc

def polar(abs_, angle):
    abs_, angle = _float(abs_), _float(angle)
    dt = to_tf_dtype(result_type(abs_.dtype, angle.dtype))
    abs_, angle = tf.cast(abs_, dt), tf.cast(angle, dt)
    return tf.complex(abs_ * tf.cos(angle), abs_ * tf.sin(angle))


def depth_to_space(x, block_size, data_format="channels_last"):
    # TF has a fused kernel for channels_last: tf.nn.depth_to_space
    x = convert_to_tensor(x)
    if data_format == "channels_last":
        return tf.nn.depth_to_space(x, block_size)
    return _depth_to_space(x, block_size, data_format)


def space_to_depth(x, block_size, data_format="channels_last"):
    # TF has a fused kernel for channels_last: tf.nn.space_to_depth
    x = convert_to_tensor(x)
    if data_format == "channels_last":
        return tf.nn.space_to_depth(x, block_size)
    return _space_to_depth(x, block_size, data_format)


def unfold(x, kernel_size, dilation=1, padding=0, stride=1):
    x = convert_to_tensor(x)
    (kh, kw), (dh, dw) = _tuple(kernel_size, 2, "kernel_size"), _tuple(dilation, 2, "dilation")
    (ph, pw), (sh, sw) = _tuple(padding, 2, "padding"), _tuple(stride, 2, "stride")
    n, c, h, w = x.shape
    x = tf.pad(x, [[0, 0], [0, 0], [ph, ph], [pw, pw]])
    oh = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    ow = (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    blocks = [x[:, :, i * dh:i * dh + sh * (oh - 1) + 1:sh, j * dw:j * dw + sw * (ow - 1) + 1:sw]
              for i in range(kh) for j in range(kw)]
    patches = tf.stack(blocks, axis=2)  # (N, C, kh*kw, oh, ow)
    return tf.reshape(patches, (-1, c * kh * kw, oh * ow))


def _add_at(out, index, value):
    # tf tensors are immutable: the strided block is placed by interleaving zeros and padding.
    pads = [[0, 0], [0, 0]]
    for axis in (2, 3):
        value = _interleave_zeros(value, axis, index[axis].step)
        start = index[axis].start
        pads.append([start, out.shape[axis] - start - value.shape[axis]])
    return out + tf.pad(value, pads)


# ----------------------------------------------------------------------------- CTC

def ctc_loss(target, output, target_length, output_length, mask_index=0):
    target = tf.cast(convert_to_tensor(target), tf.int32)
    output = _float(output)
    output = tf.cast(output, to_tf_dtype(result_type(output.dtype, "float32")))
    target_length = tf.cast(convert_to_tensor(target_length), tf.int32)
    output_length = tf.cast(convert_to_tensor(output_length), tf.int32)
    return tf.nn.ctc_loss(labels=target, logits=output, label_length=target_length,
                          logit_length=output_length, logits_time_major=False,
                          blank_index=mask_index)
