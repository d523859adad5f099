"""Report section for a GAN run: samples beside training images, and one traversal row per latent
coordinate (the generator has no encoder, so rows start from one sampled latent)."""

from __future__ import annotations

from pathlib import Path

import torch

from ..grids import image_grid, traversal_values, traverse
from ..html import img
from . import trained_run_config, training_images_figure

ORDER = 21
TITLE = "What the GAN generates"

N_SHOW = 10


def render(run_dir: Path) -> str | None:
    config = trained_run_config(run_dir, "gan")
    if config is None:
        return None
    from ...train.checkpoint import load_model

    model = load_model(run_dir).eval()
    figures = run_dir / "figures"
    noise = torch.Generator().manual_seed(0)
    with torch.inference_mode():
        z = model.sample_latents(2 * N_SHOW, noise)
        samples = model(z)
        values = traversal_values(2.5, 9)
        frames = traverse(model, z[0], torch.eye(model.latent_dim), values)
    parts = ["<div class='row'>"]
    parts.append(training_images_figure(config, model.config.in_channels, 64, n=N_SHOW))
    parts.append(
        "<figure>" + img(image_grid(samples, N_SHOW, scale=2), "samples", save_to=figures / "samples.png")
        + "<figcaption>Generated samples, z ~ N(0, I).</figcaption></figure></div>"
    )  # fmt: skip
    img(image_grid(frames, len(values)), "all traversals", save_to=figures / "traversals.png")
    rows = "".join(
        f"<tr><td>z{j}</td><td>{img(image_grid(frames[j * len(values) : (j + 1) * len(values)], len(values)), f'z{j}')}</td></tr>"
        for j in range(model.latent_dim)
    )
    parts.append(
        "<h3>Latent traversals</h3><p>Each row changes one latent coordinate of the first sample from −2.5 to "
        "+2.5, keeping the others fixed. A GAN's coordinates are rarely interpretable on their own; "
        "<code>latentlens discover</code> finds directions that are.</p>"
        f"<table><tr><th>latent</th><th>z_j from −2.5 to +2.5</th></tr>{rows}</table>"
    )
    return "".join(parts)

