"""JAX backend: image ops, all written once in kbridge/backend/shared/image.py."""

from kbridge.backend.common.shared import include

include("image", globals())
