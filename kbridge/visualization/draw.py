"""Boxes and segmentation masks drawn into image batches (numpy in, numpy out)."""

import numpy as np

from kbridge.errors import ArgumentError

__all__ = ["draw_bounding_boxes", "draw_segmentation_masks"]


def _to_numpy(x):
    from kbridge import ops

    return np.asarray(ops.convert_to_numpy(x)) if not isinstance(x, np.ndarray) else x


def _data_format(data_format):
    from kbridge.backend.common.config import standardize_data_format

    return standardize_data_format(data_format)


def _check_batch(images):
    if np.ndim(images) != 4:
        raise ArgumentError("`images` must be a batched 4D tensor. "
                            f"Received: images.shape={tuple(np.shape(images))}")


def palette(num_classes):
    """One RGB color per class (Keras's palette: class 0 is black)."""
    base = np.array([2 ** 25 - 1, 2 ** 15 - 1, 2 ** 21 - 1])
    return [(i * base % 255).tolist() for i in range(num_classes)]


def draw_segmentation_masks(images, segmentation_masks, num_classes=None, color_mapping=None,
                            alpha=0.8, blend=True, ignore_index=-1, data_format=None):
    """Paint class colors from integer masks over images.

    Args:
        images: ``(batch, height, width, 3)`` (or channels-first) images, 0-255.
        segmentation_masks: integer ``(batch, height, width, 1)`` class ids.
        num_classes: classes to paint; defaults to the largest id + 1.
        color_mapping: ``{class_id: (r, g, b)}``; a built-in palette otherwise.
        alpha: weight of the mask color when blending.
        blend: mix the colors with the image (uint8 result); without, a float32 image
            where painted pixels take their class color.
        ignore_index: mask value left unpainted when blending.
        data_format: "channels_last" or "channels_first" (default: the global setting).

    Example:
        >>> out = draw_segmentation_masks(np.zeros((1, 4, 4, 3)), np.ones((1, 4, 4, 1), "int32"),
        ...                               num_classes=2)
    """
    _check_batch(images)
    images, masks = _to_numpy(images), _to_numpy(segmentation_masks)
    if _data_format(data_format) == "channels_first":
        images, masks = images.transpose(0, 2, 3, 1), masks.transpose(0, 2, 3, 1)
    if masks.dtype.kind not in "iu":
        raise ArgumentError("`segmentation_masks` must have an integer dtype. "
                            f"Received: segmentation_masks.dtype={masks.dtype}")
    images = images.astype("float32")
    masks = masks[..., 0]
    if num_classes is None:
        num_classes = int(masks.max()) + 1
    colors = palette(num_classes) if color_mapping is None \
        else [color_mapping[i] for i in range(num_classes)]
    painted = images.copy()
    for class_id, color in enumerate(colors):
        painted[masks == class_id] = np.asarray(color, "float32")
    if not blend:
        return painted
    mixed = images * (1 - alpha) + painted * alpha
    mixed = np.where((masks != ignore_index)[..., None], mixed, images)
    return mixed.astype("uint8")


def _as_uint8(images):
    if images.dtype.kind == "f" and images.size:
        images = np.clip(images, 0, 1) * 255 if images.max() <= 1.0 else np.clip(images, 0, 255)
    return images.astype("uint8")


def _rectangle(image, x1, y1, x2, y2, color, thickness):
    """Outline a box (edges ``thickness`` pixels wide, centred on the box edges)."""
    h, w = image.shape[:2]
    lo, hi = thickness // 2, (thickness - 1) // 2 + 1

    def fill(r0, r1, c0, c1):
        r0, r1, c0, c1 = max(r0, 0), min(r1, h), max(c0, 0), min(c1, w)
        if r0 < r1 and c0 < c1:
            image[r0:r1, c0:c1] = color

    fill(y1 - lo, y1 + hi, x1 - lo, x2 + hi)    # top
    fill(y2 - lo, y2 + hi, x1 - lo, x2 + hi)    # bottom
    fill(y1 - lo, y2 + hi, x1 - lo, x1 + hi)    # left
    fill(y1 - lo, y2 + hi, x2 - lo, x2 + hi)    # right


def _text(image, text, x, y, color, font_scale):
    from PIL import Image, ImageDraw, ImageFont

    canvas = Image.fromarray(image)
    try:
        font = ImageFont.load_default(size=max(int(12 * font_scale), 6))
    except TypeError:  # Pillow < 10.1 has one fixed-size default font
        font = ImageFont.load_default()
    ImageDraw.Draw(canvas).text((x, y), text, fill=tuple(int(c) for c in color), font=font,
                                anchor="ls")
    image[...] = np.asarray(canvas)


def draw_bounding_boxes(images, bounding_boxes, bounding_box_format, class_mapping=None,
                        color=(128, 128, 128), line_thickness=2, text_thickness=1,
                        font_scale=1.0, data_format=None):
    """Outline boxes (and write their class names) on a batch of images; uint8 out.

    Args:
        images: ``(batch, height, width, 3)`` images (floats in [0, 1] or [0, 255], or ints).
        bounding_boxes: ``{"boxes": (batch, n, 4), "labels": (batch, n)}``, optionally
            ``"confidences"``; a label of -1 is padding and is skipped.
        bounding_box_format: the boxes' format ("xyxy", "xywh", "rel_xyxy", ...).
        class_mapping: ``{label: name}``; labels in it get their name written above the box.
        color: RGB of lines and text.
        line_thickness, text_thickness, font_scale: sizes (text uses Pillow's default font).
        data_format: "channels_last" or "channels_first".

    Example:
        >>> boxes = {"boxes": np.array([[[2, 2, 8, 8]]]), "labels": np.array([[0]])}
        >>> out = draw_bounding_boxes(np.zeros((1, 16, 16, 3)), boxes, "xyxy")
    """
    _check_batch(images)
    if not isinstance(bounding_boxes, dict):
        raise ArgumentError("`bounding_boxes` must be a dict with 'boxes' and 'labels'. "
                            f"Received: {type(bounding_boxes).__name__}")
    if "boxes" not in bounding_boxes or "labels" not in bounding_boxes:
        raise ArgumentError("`bounding_boxes` must contain 'boxes' and 'labels'. "
                            f"Received keys: {sorted(bounding_boxes)}")
    class_mapping = class_mapping or {}
    images = _to_numpy(images)
    channels_first = _data_format(data_format) == "channels_first"
    if channels_first:
        images = images.transpose(0, 2, 3, 1)
    height, width = images.shape[1:3]
    boxes = _to_numpy(bounding_boxes["boxes"]).astype("float32")
    if bounding_box_format != "xyxy":
        from kbridge.utils.bounding_boxes import convert_format

        boxes = _to_numpy(convert_format(boxes, bounding_box_format, "xyxy", height, width))
    labels = _to_numpy(bounding_boxes["labels"])
    confidences = bounding_boxes.get("confidences")
    confidences = None if confidences is None else _to_numpy(confidences)
    out = np.ascontiguousarray(_as_uint8(images))
    color = np.asarray(color, "uint8")
    for i in range(out.shape[0]):
        for j in range(boxes.shape[1]):
            label = int(labels[i, j])
            if label == -1:
                continue
            x1, y1, x2, y2 = (int(v) for v in boxes[i, j].astype("int32"))
            _rectangle(out[i], x1, y1, x2, y2, color, line_thickness)
            if label in class_mapping:
                text = str(class_mapping[label])
                if confidences is not None:
                    text = f"{text} | {float(confidences[i, j]):.2f}"
                font_height = int(font_scale * 12)
                x, y = (x1, y1 - 8) if y1 - 8 - 2 * font_height > 0 else \
                    (x1 + 3, y1 + 2 * font_height + text_thickness + 3)
                _text(out[i], text, x, y, color, font_scale)
    return out.transpose(0, 3, 1, 2) if channels_first else out
