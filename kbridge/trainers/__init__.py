"""The training loop; per-backend steps live in ``kbridge/backend/<name>/trainer.py``."""

from kbridge.trainers.trainer import Trainer, unpack_x_y_sample_weight

__all__ = ["Trainer", "unpack_x_y_sample_weight"]
