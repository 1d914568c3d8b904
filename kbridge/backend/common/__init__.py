"""Framework-neutral pieces shared by every backend."""
