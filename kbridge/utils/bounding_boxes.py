"""``kbridge.utils.bounding_boxes``: box format conversion, clipping, cropping, IoU and box
<-> delta encoding, as Keras 3's ``keras.utils.bounding_boxes``.

Boxes are tensors whose last axis holds 4 coordinates in one of the formats of
:data:`SUPPORTED_FORMATS` (``xyxy`` = left, top, right, bottom in pixels; ``rel_*`` are the same
divided by the image width/height; ``center_*`` hold the centre and the size). Every function
computes with ``kbridge.ops``, so it runs on the backend of the boxes it is given (also on
symbolic TensorFlow tensors inside ``tf.data``).

Example:
    >>> boxes = np.array([[10.0, 20.0, 50.0, 80.0]], "float32")
    >>> kbridge.utils.bounding_boxes.convert_format(boxes, "xyxy", "rel_center_xywh",
    ...                                               height=100, width=100)
"""

import math
import operator

from kbridge import ops
from kbridge.errors import ArgumentError

__all__ = [
    "affine_transform", "clip_to_image_size", "compute_ciou", "compute_iou", "convert_format",
    "crop", "decode_deltas_to_boxes", "encode_box_to_deltas", "pad",
]

SUPPORTED_FORMATS = ("xyxy", "yxyx", "xywh", "center_xywh", "center_yxhw", "rel_xyxy",
                     "rel_yxyx", "rel_xywh", "rel_center_xywh")
_EPSILON = 1e-7


def _split4(boxes):
    return ops.split(boxes, 4, axis=-1)


def _cat(parts):
    return ops.concatenate(parts, axis=-1)


# A format is an optional "rel_" (coordinates divided by the image width and height), then an
# axis order (y first in these, which are their x-first twin with x and y swapped), then a kind:
# corners (xyxy), corner and size (xywh) or centre and size (center_xywh).
_Y_FIRST = {"yxyx": "xyxy", "center_yxhw": "center_xywh"}


def _swap_xy(boxes):
    a, b, c, d = _split4(boxes)
    return _cat([b, a, d, c])


def _scaled(boxes, op, w, h):
    """``boxes`` with x coordinates ``op(x, w)`` and y coordinates ``op(y, h)``."""
    x1, y1, x2, y2 = _split4(boxes)
    return _cat([op(x1, w), op(y1, h), op(x2, w), op(y2, h)])


# each format <-> xyxy (absolute); ``h``/``w`` are only read by the relative formats
def _to_xyxy(fmt, boxes, h, w):
    relative, fmt = fmt.startswith("rel_"), fmt.removeprefix("rel_")
    if fmt in _Y_FIRST:
        boxes, fmt = _swap_xy(boxes), _Y_FIRST[fmt]
    if fmt != "xyxy":
        a, b, c, d = _split4(boxes)
        if fmt == "xywh":
            boxes = _cat([a, b, a + c, b + d])
        else:  # center_xywh
            boxes = _cat([a - c / 2.0, b - d / 2.0, a + c / 2.0, b + d / 2.0])
    return _scaled(boxes, operator.mul, w, h) if relative else boxes


def _from_xyxy(fmt, boxes, h, w):
    relative, fmt = fmt.startswith("rel_"), fmt.removeprefix("rel_")
    kind = _Y_FIRST.get(fmt, fmt)
    if kind != "xyxy":
        x1, y1, x2, y2 = _split4(boxes)
        if kind == "xywh":
            boxes = _cat([x1, y1, x2 - x1, y2 - y1])
        else:  # center_xywh
            boxes = _cat([x1 + (x2 - x1) / 2.0, y1 + (y2 - y1) / 2.0, x2 - x1, y2 - y1])
    if relative:
        boxes = _scaled(boxes, operator.truediv, w, h)
    return _swap_xy(boxes) if fmt in _Y_FIRST else boxes


def convert_format(boxes, source, target, height=None, width=None, dtype="float32"):
    """Convert ``boxes`` (``(..., 4)``, or a dict with a ``"boxes"`` entry, converted in place)
    from format ``source`` to ``target``; relative formats need ``height`` and ``width``.

    Example:
        >>> convert_format(np.array([[2.0, 2.0, 4.0, 6.0]]), "xyxy", "xywh")   # [[2, 2, 2, 4]]
    """
    if isinstance(boxes, dict):
        boxes["boxes"] = convert_format(boxes["boxes"], source, target, height=height,
                                        width=width, dtype=dtype)
        return boxes
    shape = ops.shape(boxes)
    if shape[-1] != 4:
        raise ArgumentError("`boxes` must have a last axis of size 4. "
                            f"Received: boxes.shape={tuple(shape)}")
    source, target = source.lower(), target.lower()
    if source not in SUPPORTED_FORMATS or target not in SUPPORTED_FORMATS:
        raise ArgumentError(f"`source` and `target` must be in {SUPPORTED_FORMATS}. "
                            f"Received: source={source!r}, target={target!r}")
    relative = source.startswith("rel_") or target.startswith("rel_")
    if relative and (height is None or width is None):
        raise ArgumentError(f"Converting from {source!r} to {target!r} needs `height` and "
                            f"`width`. Received: height={height}, width={width}")
    boxes = ops.cast(boxes, dtype)
    if source == target:
        return boxes
    if source.startswith("rel_") and target.startswith("rel_"):
        source, target = source[4:], target[4:]  # no pixel sizes involved
    h = None if height is None else ops.cast(height, dtype)
    w = None if width is None else ops.cast(width, dtype)
    return _from_xyxy(target, _to_xyxy(source, boxes, h, w), h, w)


def _area(boxes):
    x1, y1, x2, y2 = _split4(boxes)
    return (x2 - x1) * (y2 - y1)


def clip_to_image_size(bounding_boxes, height=None, width=None, bounding_box_format="xyxy"):
    """Clip the boxes of ``bounding_boxes`` (a dict with ``"boxes"`` and optional
    ``"labels"``) to the image; boxes left with no area get label -1.

    ``bounding_box_format`` is ``"xyxy"`` (needs ``height`` and ``width``) or ``"rel_xyxy"``.
    """
    if bounding_box_format not in ("xyxy", "rel_xyxy"):
        raise ArgumentError("clip_to_image_size supports 'xyxy' and 'rel_xyxy'. Received: "
                            f"bounding_box_format={bounding_box_format!r}")
    if bounding_box_format == "xyxy" and (height is None or width is None):
        raise ArgumentError("`height` and `width` are needed with bounding_box_format='xyxy'.")
    boxes = bounding_boxes["boxes"]
    labels = bounding_boxes.get("labels")
    if bounding_box_format == "xyxy":
        w, h = ops.cast(width, boxes.dtype), ops.cast(height, boxes.dtype)
    else:
        w = h = 1.0
    x1, y1, x2, y2 = _split4(boxes)
    boxes = _cat([ops.clip(x1, 0, w), ops.clip(y1, 0, h), ops.clip(x2, 0, w),
                  ops.clip(y2, 0, h)])
    result = dict(bounding_boxes)
    result["boxes"] = boxes
    if labels is not None:
        areas = ops.squeeze(_area(boxes), axis=-1)
        result["labels"] = ops.where(areas > 0, labels, ops.cast(-1, ops.dtype(labels)))
    return result


def _inverse_affine_matrix(center_x, center_y, angle, translate_x, translate_y, scale,
                           shear_x, shear_y, height, width):
    """(batch, 3, 3) matrix mapping input points to output points of Keras's affine image
    transform with these parameters (angles and shears in degrees, translations as fractions
    of the image size)."""
    to_rad = math.pi / 180.0
    rot = -angle * to_rad
    sx, sy = -shear_x * to_rad, -shear_y * to_rad
    cx, cy = center_x * (width - 1), center_y * (height - 1)
    tx, ty = -translate_x * (width - 1), -translate_y * (height - 1)
    cos_sy, tan_sx = ops.cos(sy), ops.tan(sx)
    a = ops.cos(rot - sy) / cos_sy
    b = a * tan_sx + ops.sin(rot)
    c = -ops.sin(rot - sy) / cos_sy
    d = ops.cos(rot) - c * tan_sx
    a0, a1, b0, b1 = d * scale, -b * scale, -c * scale, a * scale
    a2 = cx - a0 * (cx + tx) - a1 * (cy + ty)
    b2 = cy - b0 * (cx + tx) - b1 * (cy + ty)
    zeros = ops.zeros_like(a0)
    rows = ops.stack([a0, a1, a2, b0, b1, b2, zeros, zeros, zeros + 1.0], axis=-1)
    return ops.reshape(rows, (-1, 3, 3))


def affine_transform(boxes, angle, translate_x, translate_y, scale, shear_x, shear_y, height,
                     width, center_x=None, center_y=None, bounding_box_format="xyxy"):
    """Boxes ``(batch, n, 4)`` (xyxy) moved by a per-image affine transform: the enclosing
    box of the four transformed corners. ``angle``, ``shear_*`` are degrees, ``translate_*``
    fractions of the image size, all ``(batch,)``; the centre defaults to the image centre.
    """
    if bounding_box_format != "xyxy":
        raise ArgumentError("affine_transform supports bounding_box_format='xyxy'. "
                            f"Received: bounding_box_format={bounding_box_format!r}")
    center_x = 0.5 if center_x is None else center_x
    center_y = 0.5 if center_y is None else center_y
    # tensors of the boxes' backend (numpy arrays would not mix with torch tensors)
    angle, translate_x, translate_y, scale, shear_x, shear_y = (
        ops.cast(ops.convert_to_tensor(v), "float32")
        for v in (angle, translate_x, translate_y, scale, shear_x, shear_y))
    matrix = _inverse_affine_matrix(center_x, center_y, angle, translate_x, translate_y, scale,
                                    shear_x, shear_y, height, width)
    boxes = ops.cast(boxes, matrix.dtype)
    x1, y1, x2, y2 = boxes[..., 0], boxes[..., 1], boxes[..., 2], boxes[..., 3]
    corners_x = ops.stack([x1, x2, x2, x1], axis=-1)  # (b, n, 4)
    corners_y = ops.stack([y1, y1, y2, y2], axis=-1)
    m = matrix[:, None, None, :, :]
    new_x = m[..., 0, 0] * corners_x + m[..., 0, 1] * corners_y + m[..., 0, 2]
    new_y = m[..., 1, 0] * corners_x + m[..., 1, 1] * corners_y + m[..., 1, 2]
    return ops.stack([ops.min(new_x, axis=-1), ops.min(new_y, axis=-1),
                      ops.max(new_x, axis=-1), ops.max(new_y, axis=-1)], axis=-1)


def crop(boxes, top, left, height, width, bounding_box_format="xyxy"):
    """Boxes (xyxy) in the frame of the crop at ``(top, left)`` of size ``height x width``,
    clipped to it."""
    if bounding_box_format != "xyxy":
        raise ArgumentError("crop supports bounding_box_format='xyxy'. "
                            f"Received: bounding_box_format={bounding_box_format!r}")
    x1, y1, x2, y2 = _split4(boxes)
    return _cat([ops.clip(x1 - left, 0, width), ops.clip(y1 - top, 0, height),
                 ops.clip(x2 - left, 0, width), ops.clip(y2 - top, 0, height)])


def pad(boxes, top, left, height=None, width=None, bounding_box_format="xyxy"):
    """Boxes (xyxy) shifted by the ``top`` / ``left`` padding added to their image."""
    if bounding_box_format != "xyxy":
        raise ArgumentError("pad supports bounding_box_format='xyxy'. "
                            f"Received: bounding_box_format={bounding_box_format!r}")
    x1, y1, x2, y2 = _split4(boxes)
    return _cat([x1 + left, y1 + top, x2 + left, y2 + top])


def _image_hw(image_shape):
    if image_shape is None:
        return None, None
    height, width, _ = image_shape
    return height, width


def compute_iou(boxes1, boxes2, bounding_box_format, use_masking=False, mask_val=-1,
                image_shape=None):
    """Pairwise IoU of ``boxes1`` ``(..., n, 4)`` and ``boxes2`` ``(..., m, 4)``:
    ``(..., n, m)``. With ``use_masking``, pairs with a padding box (all coordinates < 0) get
    ``mask_val``.

    Example:
        >>> compute_iou(np.array([[0., 0, 2, 2]]), np.array([[1., 1, 3, 3]]), "xyxy")  # 1/7
    """
    rank1, rank2 = len(ops.shape(boxes1)), len(ops.shape(boxes2))
    if rank1 not in (2, 3) or rank2 not in (2, 3):
        raise ArgumentError("compute_iou() takes boxes of rank 2 (n, 4) or 3 (batch, n, 4). "
                            f"Received: ranks {rank1} and {rank2}")
    if "rel" in bounding_box_format and image_shape is None:
        raise ArgumentError("Relative box formats need `image_shape`. Received: "
                            f"bounding_box_format={bounding_box_format!r}, image_shape=None")
    height, width = _image_hw(image_shape)
    boxes1 = convert_format(boxes1, bounding_box_format, "xyxy", height=height, width=width)
    boxes2 = convert_format(boxes2, bounding_box_format, "xyxy", height=height, width=width)
    b1 = ops.expand_dims(boxes1, -2)  # (..., n, 1, 4)
    b2 = ops.expand_dims(boxes2, -3)  # (..., 1, m, 4)
    inter_w = ops.maximum(ops.minimum(b1[..., 2], b2[..., 2]) -
                          ops.maximum(b1[..., 0], b2[..., 0]), 0.0)
    inter_h = ops.maximum(ops.minimum(b1[..., 3], b2[..., 3]) -
                          ops.maximum(b1[..., 1], b2[..., 1]), 0.0)
    inter = inter_w * inter_h
    area1 = (b1[..., 2] - b1[..., 0]) * (b1[..., 3] - b1[..., 1])
    area2 = (b2[..., 2] - b2[..., 0]) * (b2[..., 3] - b2[..., 1])
    iou = inter / (area1 + area2 - inter + _EPSILON)
    if not use_masking:
        return iou
    pad1 = ops.max(boxes1, axis=-1) < 0.0
    pad2 = ops.max(boxes2, axis=-1) < 0.0
    background = ops.logical_or(ops.expand_dims(pad1, -1), ops.expand_dims(pad2, -2))
    return ops.where(background, ops.cast(mask_val, iou.dtype), iou)


def compute_ciou(boxes1, boxes2, bounding_box_format, image_shape=None):
    """Complete IoU of matching boxes (same leading shape): IoU minus the normalised centre
    distance and an aspect-ratio penalty (Zheng et al., 2020)."""
    if "rel" in bounding_box_format:
        raise ArgumentError("compute_ciou() takes absolute box formats. Received: "
                            f"bounding_box_format={bounding_box_format!r}")
    height, width = _image_hw(image_shape)
    boxes1 = convert_format(boxes1, bounding_box_format, "xyxy", height=height, width=width)
    boxes2 = convert_format(boxes2, bounding_box_format, "xyxy", height=height, width=width)
    ax1, ay1, ax2, ay2 = [boxes1[..., i] for i in range(4)]
    bx1, by1, bx2, by2 = [boxes2[..., i] for i in range(4)]
    w1, h1 = ax2 - ax1, ay2 - ay1 + _EPSILON
    w2, h2 = bx2 - bx1, by2 - by1 + _EPSILON
    inter = (ops.maximum(ops.minimum(ax2, bx2) - ops.maximum(ax1, bx1), 0.0) *
             ops.maximum(ops.minimum(ay2, by2) - ops.maximum(ay1, by1), 0.0))
    union = w1 * h1 + w2 * h2 - inter + _EPSILON
    iou = inter / (union + _EPSILON)
    diag = ((ops.maximum(ax2, bx2) - ops.minimum(ax1, bx1)) ** 2 +
            (ops.maximum(ay2, by2) - ops.minimum(ay1, by1)) ** 2 + _EPSILON)
    centres = ((ax1 + ax2) / 2 - (bx1 + bx2) / 2) ** 2 + ((ay1 + ay2) / 2 - (by1 + by2) / 2) ** 2
    v = 4.0 / math.pi ** 2 * (ops.arctan(w2 / h2) - ops.arctan(w1 / h1)) ** 2
    alpha = v / (v - iou + (1.0 + _EPSILON))
    return iou - (centres / diag + v * alpha)


def _check_variance(variance):
    if variance is None:
        return None
    variance = ops.convert_to_tensor(variance, "float32")
    if variance.shape[-1] != 4:
        raise ArgumentError(f"`variance` must have 4 values. Received: variance={variance}")
    return variance


def _check_encoding(name, value):
    if value not in ("center_xywh", "center_yxhw"):
        raise ArgumentError(f"`{name}` must be 'center_xywh' or 'center_yxhw'. "
                            f"Received: {name}={value!r}")


def encode_box_to_deltas(anchors, boxes, anchor_format, box_format,
                         encoding_format="center_yxhw", variance=None, image_shape=None):
    """Regression targets of ``boxes`` relative to ``anchors``: centre offsets over the anchor
    size and log size ratios, in ``encoding_format`` order, divided by ``variance``."""
    variance = _check_variance(variance)
    _check_encoding("encoding_format", encoding_format)
    height, width = _image_hw(image_shape)
    anchors = convert_format(anchors, anchor_format, encoding_format, height=height, width=width)
    boxes = convert_format(boxes, box_format, encoding_format, height=height, width=width)
    anchor_size = ops.maximum(anchors[..., 2:], _EPSILON)
    box_size = ops.maximum(boxes[..., 2:], _EPSILON)
    deltas = ops.concatenate([(boxes[..., :2] - anchors[..., :2]) / anchor_size,
                              ops.log(box_size / anchor_size)], axis=-1)
    return deltas if variance is None else deltas / variance


def decode_deltas_to_boxes(anchors, boxes_delta, anchor_format, box_format,
                           encoded_format="center_yxhw", variance=None, image_shape=None):
    """Inverse of :func:`encode_box_to_deltas`; ``anchors`` and ``boxes_delta`` may be dicts
    of pyramid levels (decoded level by level)."""
    variance = _check_variance(variance)
    _check_encoding("encoded_format", encoded_format)
    height, width = _image_hw(image_shape)

    def decode(anchor, delta):
        anchor = convert_format(anchor, anchor_format, encoded_format, height=height,
                                width=width)
        if variance is not None:
            delta = delta * variance
        box = ops.concatenate([delta[..., :2] * anchor[..., 2:] + anchor[..., :2],
                               ops.exp(delta[..., 2:]) * anchor[..., 2:]], axis=-1)
        return convert_format(box, encoded_format, box_format, height=height, width=width)

    if isinstance(anchors, dict) and isinstance(boxes_delta, dict):
        return {level: decode(anchor, boxes_delta[level]) for level, anchor in anchors.items()}
    return decode(anchors, boxes_delta)
