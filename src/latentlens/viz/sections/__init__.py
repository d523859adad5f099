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
