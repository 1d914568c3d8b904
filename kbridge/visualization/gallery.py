"""Matplotlib galleries of images, boxes and segmentation masks (matplotlib imported when
called)."""

import math

import numpy as np

from kbridge.errors import ArgumentError
from kbridge.utils.optional import require
from kbridge.visualization.draw import (
    _check_batch,
    _data_format,
    _to_numpy,
    draw_bounding_boxes,
    draw_segmentation_masks,
)

__all__ = ["plot_bounding_box_gallery", "plot_image_gallery", "plot_segmentation_mask_gallery"]


def _pyplot():
    return require("matplotlib.pyplot", "kbridge.visualization galleries need matplotlib. "
                   "Install it with `pip install matplotlib`.")


def _to_0_255(images, value_range):
    low, high = value_range
    if (low, high) == (0, 255):
        return images.astype("float32")
    return (images.astype("float32") - low) / (high - low) * 255.0


def plot_image_gallery(images, y_true=None, y_pred=None, label_map=None, rows=None, cols=None,
                       value_range=(0, 255), scale=2, path=None, show=None, transparent=True,
                       dpi=60, legend_handles=None, data_format=None):
    """Show (or save to ``path``) a grid of images, titled with labels when given.

    Args:
        images: a batch ``(n, height, width, channels)``.
        y_true, y_pred: per-image labels, named through ``label_map`` (required with them).
        rows, cols: grid size (a near-square grid by default).
        value_range: the range of the pixel values, rescaled to 0-255 for display.
        scale: inches per image.
        path: save the figure there (then it is not shown).
        show: show the figure (default: when ``path`` is None).
        transparent, dpi: passed to ``savefig``.
        legend_handles: matplotlib handles for a figure legend.
        data_format: "channels_last" or "channels_first".

    Returns the matplotlib Figure.

    Example:
        >>> plot_image_gallery(images, y_true=labels, label_map={0: "cat", 1: "dog"},
        ...                    path="gallery.png")
    """
    plt = _pyplot()
    if path is not None and show:
        raise ArgumentError("Pass either `path` (save the figure) or show=True, not both.")
    if (y_true is not None or y_pred is not None) and label_map is None:
        raise ArgumentError("`label_map` is required with `y_true` or `y_pred`.")
    _check_batch(images)
    show = path is None if show is None else show
    images = _to_numpy(images)
    if _data_format(data_format) == "channels_first":
        images = images.transpose(0, 2, 3, 1)
    batch = images.shape[0]
    rows = rows or int(math.ceil(math.sqrt(batch)))
    cols = cols or max(int(math.ceil(batch / rows)), 1)
    images = _to_0_255(images[: rows * cols], value_range)
    y_true = None if y_true is None else _to_numpy(y_true)
    y_pred = None if y_pred is None else _to_numpy(y_pred)
    fig, axes = plt.subplots(nrows=rows, ncols=cols, figsize=(cols * scale, rows * scale),
                             frameon=False, layout="tight", squeeze=False)
    fig.subplots_adjust(wspace=0, hspace=0)
    if legend_handles is not None:
        fig.legend(handles=legend_handles, loc="lower center")
    for index, axis in enumerate(axes.flat):
        axis.axis("off")
        if index >= len(images):
            continue
        image = np.clip(images[index], 0, 255).astype("uint8")
        axis.imshow(image[..., 0] if image.shape[-1] == 1 else image,
                    cmap="gray" if image.shape[-1] == 1 else None)
        axis.margins(x=0, y=0)
        title = []
        if y_true is not None and index < len(y_true):
            title.append(f"Label: {label_map.get(_scalar(y_true[index]), 'Unknown')}")
        if y_pred is not None and index < len(y_pred):
            title.append(f"Pred: {label_map.get(_scalar(y_pred[index]), 'Unknown')}")
        if title:
            axis.set_title("  ".join(title), fontsize=8)
    if path is not None:
        fig.savefig(path, pad_inches=0, bbox_inches="tight", transparent=transparent, dpi=dpi)
        plt.close(fig)
    elif show:
        plt.show()
        plt.close(fig)
    return fig


def _scalar(value):
    value = np.asarray(value)
    return value.item() if value.size == 1 else tuple(value.tolist())


def plot_bounding_box_gallery(images, bounding_box_format, y_true=None, y_pred=None,
                              value_range=(0, 255), true_color=(0, 188, 212),
                              pred_color=(255, 235, 59), line_thickness=2, font_scale=1.0,
                              text_thickness=None, class_mapping=None,
                              ground_truth_mapping=None, prediction_mapping=None, legend=False,
                              legend_handles=None, rows=None, cols=None, data_format=None,
                              **kwargs):
    """A gallery of images with true boxes (``true_color``) and predicted boxes
    (``pred_color``) drawn by ``draw_bounding_boxes``; other ``kwargs`` go to
    ``plot_image_gallery``.

    Example:
        >>> plot_bounding_box_gallery(images, "xyxy", y_true={"boxes": b, "labels": l},
        ...                           class_mapping={0: "cat"}, path="boxes.png")
    """
    _pyplot()
    _check_batch(images)
    images = _to_numpy(images)
    if _data_format(data_format) == "channels_first":
        images = images.transpose(0, 2, 3, 1)
    drawn = _to_0_255(images, value_range)
    common = dict(bounding_box_format=bounding_box_format, line_thickness=line_thickness,
                  text_thickness=text_thickness or line_thickness, font_scale=font_scale,
                  data_format="channels_last")
    if y_true is not None:
        drawn = draw_bounding_boxes(drawn, y_true, color=true_color,
                                    class_mapping=ground_truth_mapping or class_mapping, **common)
    if y_pred is not None:
        drawn = draw_bounding_boxes(drawn, y_pred, color=pred_color,
                                    class_mapping=prediction_mapping or class_mapping, **common)
    if legend:
        if legend_handles:
            raise ArgumentError("Pass either `legend=True` or `legend_handles`, not both.")
        from matplotlib import patches

        legend_handles = [patches.Patch(color=np.array(true_color) / 255.0, label="Ground Truth"),
                          patches.Patch(color=np.array(pred_color) / 255.0, label="Prediction")]
    return plot_image_gallery(drawn, value_range=(0, 255), legend_handles=legend_handles,
                              rows=rows, cols=cols, data_format="channels_last", **kwargs)


def plot_segmentation_mask_gallery(images, num_classes, value_range=(0, 255), y_true=None,
                                   y_pred=None, color_mapping=None, blend=True, alpha=0.8,
                                   ignore_index=-1, data_format=None, **kwargs):
    """One row per image: the image, then its true and predicted masks painted over it
    (``draw_segmentation_masks``); other ``kwargs`` go to ``plot_image_gallery``.

    Example:
        >>> plot_segmentation_mask_gallery(images, 3, y_true=masks, path="masks.png")
    """
    _pyplot()
    _check_batch(images)
    images = _to_numpy(images)
    channels_first = _data_format(data_format) == "channels_first"
    if channels_first:
        images = images.transpose(0, 2, 3, 1)
    images = _to_0_255(images, value_range)
    columns = [images]
    for masks in (y_true, y_pred):
        if masks is not None:
            masks = _to_numpy(masks)
            if channels_first:
                masks = masks.transpose(0, 2, 3, 1)
            columns.append(draw_segmentation_masks(
                images, masks.astype("int32"), num_classes=num_classes,
                color_mapping=color_mapping, alpha=alpha, blend=blend,
                ignore_index=ignore_index, data_format="channels_last").astype("float32"))
    gallery = np.stack([column[i] for i in range(len(images)) for column in columns])
    return plot_image_gallery(gallery, value_range=(0, 255), rows=len(images),
                              cols=len(columns), data_format="channels_last", **kwargs)
