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
def _one_thread(one_thread):
    yield
