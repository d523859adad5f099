"""Fixtures for the direction-finder tests."""

from __future__ import annotations

import pytest
from dir_tiny_models import BlobGenerator, TinyGenerator


@pytest.fixture
def tiny_generator():
    return TinyGenerator()


@pytest.fixture
def blob_generator():
    return BlobGenerator()


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny models run fastest on one thread; on a loaded machine OpenMP barriers make 2 threads 10-100x slower."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
