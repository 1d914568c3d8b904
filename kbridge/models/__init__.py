"""``kbridge.models``: Model, Sequential, Functional, and model utilities."""

from kbridge.models.cloning import clone_model, convert
from kbridge.models.functional import Functional
from kbridge.models.model import Model
from kbridge.models.sequential import Sequential

__all__ = ["Functional", "Model", "Sequential", "clone_model", "convert"]
