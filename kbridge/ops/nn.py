"""nn ops: activations, convolution, pooling, normalisation, losses and attention."""

from kbridge.backend.common.dispatch import op_decorator
from kbridge.ops import _specs

op = op_decorator("nn")


@op
def adaptive_average_pool(inputs, output_size, data_format=None):
    """Average-pool ``inputs`` to a fixed spatial ``output_size`` (windows as in PyTorch)."""


@op
def adaptive_max_pool(inputs, output_size, data_format=None):
    """Max-pool ``inputs`` to a fixed spatial ``output_size`` (windows as in PyTorch)."""


@op
def average_pool(inputs, pool_size, strides=None, padding='valid', data_format=None):
    """Average pooling over 1-3 spatial dims; 'same' padding averages real elements only.

    Example:
        >>> kbridge.ops.average_pool(np.ones((1, 5, 1), 'float32'), 2, 2, 'same').shape
        (1, 3, 1)
    """


@op
def batch_normalization(x, mean, variance, axis, offset=None, scale=None, epsilon=0.001):
    """Normalise ``x`` with given ``mean``/``variance`` along ``axis``, then scale and shift."""


@op
def binary_crossentropy(target, output, from_logits=False):
    """Element-wise binary cross-entropy between ``target`` and ``output``."""


@op
def categorical_crossentropy(target, output, from_logits=False, axis=-1):
    """Cross-entropy between one-hot (or soft) ``target`` and ``output`` along ``axis``."""


@op
def celu(x, alpha=1.0):
    """Continuously differentiable ELU: ``max(x, 0) + alpha * expm1(min(x, 0) / alpha)``."""


@op(spec=_specs.conv)
def conv(inputs, kernel, strides=1, padding='valid', data_format=None, dilation_rate=1):
    """N-D convolution (cross-correlation); kernel is ``(*spatial, in_channels / groups, out_channels)``.

    Example:
        >>> x = np.ones((1, 5, 5, 4), 'float32'); k = np.ones((3, 3, 2, 6), 'float32')
        >>> kbridge.ops.conv(x, k, padding='same').shape   # groups = 4 // 2 = 2
        (1, 5, 5, 6)
    """


@op(spec=_specs.conv_transpose)
def conv_transpose(inputs, kernel, strides=1, padding='valid', output_padding=None, data_format=None, dilation_rate=1):
    """Transposed N-D convolution; kernel is ``(*spatial, out_channels, in_channels)``.

    Example:
        >>> x = np.ones((1, 4, 4, 3), 'float32'); k = np.ones((3, 3, 8, 3), 'float32')
        >>> kbridge.ops.conv_transpose(x, k, strides=2, padding='same').shape
        (1, 8, 8, 8)
    """


@op
def ctc_decode(inputs, sequence_lengths, strategy='greedy', beam_width=100, top_paths=1, merge_repeated=True, mask_index=0):
    """Decode CTC outputs greedily or by beam search; returns ``(paths, scores)``.

    Example:
        >>> logits = np.random.rand(2, 10, 5).astype('float32')
        >>> paths, scores = kbridge.ops.ctc_decode(logits, [10, 7])   # paths: (1, 2, 10), -1 padded
    """


@op
def ctc_loss(target, output, target_length, output_length, mask_index=0):
    """Per-sequence CTC negative log-likelihood of ``target`` under ``output`` logits."""


@op
def depth_to_space(x, block_size, data_format='channels_last'):
    """Move channel blocks into ``block_size x block_size`` spatial blocks (pixel shuffle)."""


@op(spec=_specs.depthwise_conv)
def depthwise_conv(inputs, kernel, strides=1, padding='valid', data_format=None, dilation_rate=1):
    """Depthwise convolution: each input channel convolved with its own ``kernel[..., c, :]``."""


@op
def dot_product_attention(query, key, value, bias=None, mask=None, scale=None, is_causal=False, flash_attention=None, attn_logits_soft_cap=None):
    """Scaled dot-product attention over ``[batch, seq, heads, head_dim]`` inputs.

    Example:
        >>> q = np.ones((2, 5, 8, 16), 'float32'); kv = np.ones((2, 7, 2, 16), 'float32')
        >>> kbridge.ops.dot_product_attention(q, kv, kv).shape   # 8 query heads share 2 kv heads
        (2, 5, 8, 16)
    """


@op
def elu(x, alpha=1.0):
    """Exponential linear unit: ``x`` for ``x > 0``, else ``alpha * (exp(x) - 1)``."""


@op
def fold(x, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """Sum sliding blocks ``(N, C*kH*kW, L)`` back into an image ``(N, C, H, W)`` (col2im)."""


@op
def gelu(x, approximate=True):
    """Gaussian error linear unit; ``approximate=True`` uses the tanh formula."""


@op
def glu(x, axis=-1):
    """Gated linear unit: split ``x`` in two along ``axis`` and return ``a * sigmoid(b)``."""


@op
def hard_shrink(x, threshold=0.5):
    """``x`` where ``|x| > threshold``, else 0."""


@op
def hard_sigmoid(x):
    """Piecewise-linear sigmoid: ``clip(x / 6 + 0.5, 0, 1)``."""


@op
def hard_silu(x):
    """``x * hard_sigmoid(x)``."""


@op
def hard_swish(x):
    """``x * hard_sigmoid(x)`` (alias of ``hard_silu``)."""


@op
def hard_tanh(x):
    """``clip(x, -1, 1)``."""


@op
def layer_normalization(x, gamma=None, beta=None, axis=-1, epsilon=None, **kwargs):
    """Normalise ``x`` to zero mean and unit variance over ``axis``; optional gamma/beta."""


@op
def leaky_relu(x, negative_slope=0.2):
    """``x`` for ``x >= 0``, else ``negative_slope * x``."""


@op
def log_sigmoid(x):
    """``log(sigmoid(x))``, computed stably."""


@op
def log_softmax(x, axis=-1):
    """``log(softmax(x))`` along ``axis``, computed stably."""


@op
def max_pool(inputs, pool_size, strides=None, padding='valid', data_format=None):
    """Max pooling over 1-3 spatial dims."""


@op
def moments(x, axes, keepdims=False, synchronized=False):
    """Mean and variance of ``x`` over ``axes``."""


@op
def multi_hot(inputs, num_classes=None, axis=-1, dtype=None, sparse=False, **kwargs):
    """Encode integer ``inputs`` as multi-hot vectors (one row per sample).

    Example:
        >>> kbridge.ops.multi_hot(np.array([[0, 2], [1, 1]]), 3)
        array([[1., 0., 1.], [0., 1., 0.]], dtype=float32)
    """


@op
def normalize(x, axis=-1, order=2, epsilon=None):
    """Divide ``x`` by its ``order``-norm along ``axis`` (norm floored at ``epsilon``)."""


@op
def one_hot(x, num_classes, axis=-1, dtype=None, sparse=False):
    """One-hot encode integer ``x``; negative or out-of-range indices give all zeros.

    Example:
        >>> kbridge.ops.one_hot(np.array([2, 0]), 3)
        array([[0., 0., 1.], [1., 0., 0.]], dtype=float32)
    """


@op
def polar(abs_, angle):
    """Complex numbers from magnitude ``abs_`` and angle ``angle``."""


@op
def psnr(x1, x2, max_val):
    """Peak signal-to-noise ratio (dB) between ``x1`` and ``x2``."""


@op
def relu(x):
    """``max(x, 0)``."""


@op
def relu6(x):
    """``min(max(x, 0), 6)``."""


@op
def rms_normalization(x, scale=None, axis=-1, epsilon=None):
    """Divide ``x`` by its root mean square over ``axis``; optional ``scale``."""


@op
def selu(x):
    """Scaled ELU with the self-normalising constants."""


@op(spec=_specs.separable_conv)
def separable_conv(inputs, depthwise_kernel, pointwise_kernel, strides=1, padding='valid', data_format=None, dilation_rate=1):
    """Depthwise convolution followed by a 1x1 pointwise convolution."""


@op
def sigmoid(x):
    """``1 / (1 + exp(-x))``."""


@op
def silu(x):
    """``x * sigmoid(x)``."""


@op
def soft_shrink(x, threshold=0.5):
    """Shrink ``x`` toward zero by ``threshold``; zero inside ``[-threshold, threshold]``."""


@op
def softmax(x, axis=-1):
    """Softmax along ``axis`` (an int or a tuple of axes)."""


@op
def softplus(x):
    """``log(1 + exp(x))``, computed stably."""


@op
def softsign(x):
    """``x / (1 + |x|)``."""


@op
def space_to_depth(x, block_size, data_format='channels_last'):
    """Move ``block_size x block_size`` spatial blocks into channels (pixel unshuffle)."""


@op
def sparse_categorical_crossentropy(target, output, from_logits=False, axis=-1):
    """Cross-entropy between integer class ``target`` and ``output`` along ``axis``."""


@op
def sparse_plus(x):
    """0 for ``x <= -1``, ``(x + 1)^2 / 4`` for ``|x| < 1``, ``x`` above."""


@op
def sparse_sigmoid(x):
    """``clip((x + 1) / 2, 0, 1)``."""


@op
def sparsemax(x, axis=-1):
    """Euclidean projection of ``x`` onto the probability simplex along ``axis``."""


@op
def squareplus(x, b=4):
    """``(x + sqrt(x^2 + b)) / 2``, a smooth ReLU."""


@op
def swish(x):
    """``x * sigmoid(x)`` (alias of ``silu``)."""


@op
def tanh_shrink(x):
    """``x - tanh(x)``."""


@op
def threshold(x, threshold, default_value):
    """``x`` where ``x > threshold``, else ``default_value``."""


@op
def unfold(x, kernel_size, dilation=1, padding=0, stride=1):
    """Extract sliding ``kernel_size`` blocks of an ``(N, C, H, W)`` image as ``(N, C*kH*kW, L)``.

    Example:
        >>> kbridge.ops.unfold(np.ones((1, 2, 4, 4), 'float32'), 2, stride=2).shape
        (1, 8, 4)
    """


@op_decorator("nn", export=False)(spec=_specs.linear)
def linear(x, kernel, bias=None):
    """``x @ kernel + bias`` (Dense's core), one fused kernel where the backend has one."""


_linear = linear  # internal: not a Keras op, so not in the public op namespace
del linear
