"""``kbridge.visualization``: draw boxes and masks onto images, and plot image galleries.

``draw_*`` return numpy arrays; the ``plot_*`` galleries need matplotlib (imported when
called).

Example:
    >>> out = kbridge.visualization.draw_segmentation_masks(images, masks, num_classes=3)
"""

from kbridge.visualization.draw import draw_bounding_boxes, draw_segmentation_masks
from kbridge.visualization.gallery import (
    plot_bounding_box_gallery,
    plot_image_gallery,
    plot_segmentation_mask_gallery,
)

__all__ = ["draw_bounding_boxes", "draw_segmentation_masks", "plot_bounding_box_gallery",
           "plot_image_gallery", "plot_segmentation_mask_gallery"]
