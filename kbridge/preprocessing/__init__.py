"""kbridge.preprocessing (being filled in)."""
