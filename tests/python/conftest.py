"""Shared pytest setup for the knnx Python tests.

Tests marked `gpu` run only where knnx sees a CUDA device; everywhere else they are skipped.
"""

import numpy as np
import pytest

import knnx


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "gpu: needs a CUDA device (skipped when knnx.cuda_device_count() == 0)")


def pytest_collection_modifyitems(config, items):
    if knnx.cuda_device_count() > 0:
        return
    reason = ("no CUDA device" if knnx.cuda_backend_compiled()
              else "this build of knnx has no CUDA backend")
    skip = pytest.mark.skip(reason=reason)
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture
def restore_config():
    """Puts every knob back after a test that changes them."""
    saved = knnx.config()
    yield
    knnx.set_config(**saved)
