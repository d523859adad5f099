"""Report section for a diffusion-model run: DDIM samples beside training images, the zoo's shape statistics
when recorded, and the sheets of ``latentlens edit``."""

from __future__ import annotations

from pathlib import Path

import torch

from ...io import read_json
from ..grids import image_grid
from ..html import escape, img, table
from . import trained_run_config, training_images_figure

ORDER = 22
TITLE = "What the diffusion model generates"

N_SHOW = 10
SAMPLE_STEPS = 20


def render(run_dir: Path) -> str | None:
    config = trained_run_config(run_dir, "ddpm")
    if config is None:
        return None
    from ...train.checkpoint import load_model

    model = load_model(run_dir)
    samples = model.sample(2 * N_SHOW, steps=SAMPLE_STEPS, generator=torch.Generator().manual_seed(0))
    parts = ["<div class='row'>"]
    parts.append(training_images_figure(config, model.image_shape[0], model.image_shape[1], n=N_SHOW))
    parts.append(
        "<figure>" + img(image_grid(samples, N_SHOW, scale=2), "samples", save_to=run_dir / "figures" / "ddpm_samples.png")
        + f"<figcaption>DDIM samples ({SAMPLE_STEPS} steps, η = 0) from seeded noise.</figcaption></figure></div>"
    )  # fmt: skip
    provenance = read_json(run_dir / "provenance.json") if (run_dir / "provenance.json").is_file() else {}
    stats = provenance.get("metrics", {})
    if "fraction_square" in stats:
        rows = [[k.replace("_", " "), stats[k]] for k in ("fraction_square", "fraction_ellipse", "fraction_heart",
                                                          "intensity_ratio", "mean_shape_confidence", "num_samples")]  # fmt: skip
        parts.append("<p>Shapes of DDIM samples read by the dSprites factor predictor (dSprites holds each at 1/3):</p>"
                     + table(["", "value"], rows))  # fmt: skip
    edits = run_dir / "edits"
    sheets = sorted(edits.glob("direction_*.png")) if edits.is_dir() else []
    if sheets:
        info = read_json(edits / "edit.json") if (edits / "edit.json").is_file() else {}
        parts.append(
            "<h3>Edits</h3><p>From <code>latentlens edit</code>: rows are images "
            f"({escape(str(info.get('source', '?')))}), columns shift h by {escape(str(info.get('columns', '')))} "
            "standard deviations along one direction.</p><div class='row'>"
            + "".join(f"<figure>{img(p, p.stem)}<figcaption>{escape(p.stem)}</figcaption></figure>" for p in sheets)
            + "</div>"
        )  # fmt: skip
    return "".join(parts)

