import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

torch.set_num_threads(min(2, os.cpu_count() or 1))

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def run_cli(*args, timeout=300, env=None, cwd=None):
    """Run ``python -m latentlens.cli ARGS`` in a fresh process (in ``cwd``); returns the CompletedProcess."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "latentlens.cli", *map(str, args)],
        capture_output=True, text=True, timeout=timeout, env=full_env, cwd=cwd,
    )  # fmt: skip


@pytest.fixture
def cli():
    return run_cli


@pytest.fixture
def user_models(tmp_path):
    """The user-written models of ``tests/adapters/user_models.py``, imported, with a copy of the file in
    ``tmp_path`` so that ``--model user_models:NAME`` works from there."""
    import importlib
    import shutil

    source = Path(__file__).resolve().parent / "adapters" / "user_models.py"
    shutil.copy(source, tmp_path / "user_models.py")
    if str(source.parent) not in sys.path:
        sys.path.insert(0, str(source.parent))
    return importlib.import_module("user_models")


@pytest.fixture
def image_folder(tmp_path):
    """Twelve small RGB PNGs and a JPEG, in two sub-folders."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    root = tmp_path / "images"
    for i in range(12):
        sub = root / ("a" if i % 2 else "b")
        sub.mkdir(parents=True, exist_ok=True)
        array = rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)
        Image.fromarray(array).save(sub / f"img{i}.png")
    Image.fromarray(rng.integers(0, 255, (30, 30, 3), dtype=np.uint8)).save(root / "extra.jpg")
    return root


@pytest.fixture
def one_thread():
    """Tiny models run fastest on one thread; on a loaded machine OpenMP barriers make 2 threads 10-100x slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
