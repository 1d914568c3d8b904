"""``kbridge.callbacks``: hooks into fit / evaluate / predict (Keras 3 names)."""

from kbridge.callbacks.backup_and_restore import BackupAndRestore
from kbridge.callbacks.callback import Callback, CallbackList
from kbridge.callbacks.csv_logger import CSVLogger
from kbridge.callbacks.early_stopping import EarlyStopping
from kbridge.callbacks.history import History
from kbridge.callbacks.lambda_callback import LambdaCallback
from kbridge.callbacks.learning_rate import LearningRateScheduler, ReduceLROnPlateau
from kbridge.callbacks.model_checkpoint import ModelCheckpoint
from kbridge.callbacks.orbax_checkpoint import OrbaxCheckpoint
from kbridge.callbacks.progbar_logger import ProgbarLogger
from kbridge.callbacks.remote_monitor import RemoteMonitor
from kbridge.callbacks.swap_ema_weights import SwapEMAWeights
from kbridge.callbacks.tensorboard import TensorBoard
from kbridge.callbacks.terminate_on_nan import TerminateOnNaN

__all__ = [
    "BackupAndRestore", "CSVLogger", "Callback", "CallbackList", "EarlyStopping", "History",
    "LambdaCallback", "LearningRateScheduler", "ModelCheckpoint", "OrbaxCheckpoint",
    "ProgbarLogger", "ReduceLROnPlateau", "RemoteMonitor", "SwapEMAWeights", "TensorBoard",
    "TerminateOnNaN",
]
