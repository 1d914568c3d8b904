"""Backend code written once and included by several backends (see
``kbridge.backend.common.shared``). These modules are not imported on their own: each runs
inside the backend module that includes it."""
