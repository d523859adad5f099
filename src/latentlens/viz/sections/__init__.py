"""Report sections, one module each (see :mod:`latentlens.viz.report`)."""

from __future__ import annotations

from pathlib import Path

from ...io import read_json


def trained_run_config(run_dir: Path, kind: str) -> dict | None:
    """The run's ``config.json`` when ``run_dir`` holds trained weights of a model of ``kind``, else None."""
    config_path = run_dir / "config.json"
    if not config_path.exists() or not (run_dir / "model.safetensors").exists():
        return None
    config = read_json(config_path)
    return config if config.get("kind") == kind else None


def training_images_figure(config: dict, channels: int, size: int, n: int = 10) -> str:
    """A figure of ``n`` seeded images of the run's training data, or "" when that data can no longer be read
    (the samples and traversals of the section still show)."""
    import numpy as np

    from ...data.sources import make_source
    from ...errors import LatentLensError
    from ..grids import image_grid
    from ..html import img

    try:
        source = make_source(config.get("train", {}).get("data", ""), size, channels)
    except (LatentLensError, OSError, ValueError):
        return ""
    real = source.batch(n, np.random.default_rng(0))
    return ("<figure>" + img(image_grid(real, n, scale=2), "training images")
            + "<figcaption>Training images.</figcaption></figure>")  # fmt: skip
