"""kbridge.applications (being filled in)."""
