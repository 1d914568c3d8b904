"""``OrbaxCheckpoint``: Keras 3's Orbax-backed checkpoint callback.

It needs the ``orbax-checkpoint`` package, which kbridge does not install; without it the
callback fails on construction with a clear message (as Keras does).
"""

from kbridge.callbacks.callback import Callback
from kbridge.errors import KbridgeError

_MISSING_ORBAX = (
    "OrbaxCheckpoint requires the 'orbax-checkpoint' package. You can install it via "
    "`pip install orbax-checkpoint`. To checkpoint without it, use "
    "kbridge.callbacks.ModelCheckpoint or kbridge.callbacks.BackupAndRestore.")


class OrbaxCheckpointError(KbridgeError, ImportError):
    """``orbax-checkpoint`` is not installed, or this kbridge build cannot drive it."""


class OrbaxCheckpoint(Callback):
    """Save model and optimizer state with Orbax during ``fit`` (Keras 3 signature).

    Args:
        directory: where checkpoints are written.
        monitor, mode, save_best_only, initial_value_threshold: as in ``ModelCheckpoint``.
        verbose: 0 or 1.
        save_freq: ``"epoch"`` or a number of batches.
        max_to_keep: the number of recent checkpoints kept.
        save_on_background: save asynchronously.
        save_weights_only: leave out the optimizer state.

    Raises:
        ImportError: ``orbax-checkpoint`` is not installed; and, where it is, because
            kbridge does not yet write Orbax checkpoints (use ``ModelCheckpoint``).

    Example:
        >>> kbridge.callbacks.OrbaxCheckpoint("/tmp/ckpt")  # ImportError without orbax
    """

    def __init__(self, directory, monitor="val_loss", verbose=0, save_best_only=False,
                 mode="auto", save_freq="epoch", initial_value_threshold=None, max_to_keep=1,
                 save_on_background=True, save_weights_only=False):
        super().__init__()
        try:
            import orbax.checkpoint  # noqa: F401
        except ImportError:
            raise OrbaxCheckpointError(_MISSING_ORBAX) from None
        raise OrbaxCheckpointError(
            "kbridge does not write Orbax checkpoints yet, although orbax-checkpoint is "
            "installed. Use kbridge.callbacks.ModelCheckpoint (a kbridge release or a "
            ".weights.h5 / .keras file) or kbridge.callbacks.BackupAndRestore instead.")
