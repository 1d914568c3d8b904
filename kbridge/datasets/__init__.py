"""kbridge.datasets (being filled in)."""
