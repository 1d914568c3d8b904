"""``kbridge.models``: Model, Sequential, Functional, and model utilities."""

from kbridge.models.cloning import clone_model, convert
from kbridge.models.functional import Functional
from kbridge.models.model import Model
from kbridge.models.sequential import Sequential
from kbridge.saving.saving_api import load_model, save_model
from kbridge.saving.serialization_lib import model_from_json

__all__ = ["Functional", "Model", "Sequential", "clone_model", "convert", "load_model",
           "model_from_json", "save_model"]
