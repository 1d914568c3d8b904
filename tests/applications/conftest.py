"""``slow`` marks the heavy application checks; they run only with KBRIDGE_SLOW_TESTS=1."""

import os

import pytest


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: heavy check, runs only with KBRIDGE_SLOW_TESTS=1")


def pytest_collection_modifyitems(config, items):
    if os.environ.get("KBRIDGE_SLOW_TESTS") == "1":
        return
    skip = pytest.mark.skip(reason="slow: set KBRIDGE_SLOW_TESTS=1 to run")
    for item in items:
        if "slow" in item.keywords and "tests/applications" in str(item.fspath).replace("\\", "/"):
            item.add_marker(skip)
