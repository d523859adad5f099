"""Report section for a VAE run: reconstructions, samples, one traversal row per latent dimension, and
which ground-truth factor each dimension follows (when the data has factors)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ...errors import LatentLensError
from ..grids import image_grid, traversal_values, traverse
from ..html import img, table
from . import trained_run_config

ORDER = 20
TITLE = "What the VAE learned"

N_SHOW = 10


def render(run_dir: Path) -> str | None:
    config = trained_run_config(run_dir, "vae")
    if config is None:
        return None
    from ...train.checkpoint import load_model

    model = load_model(run_dir)
    data_name = config.get("train", {}).get("data", "")
    figures = run_dir / "figures"
    images, factors, dataset = _examples(data_name, model, n=2000)
    parts = []
    with torch.inference_mode():
        mu, logvar = _encode(model, images)
        kl_per_dim = (0.5 * (mu.pow(2) + logvar.exp() - logvar - 1)).mean(0)
        recon = model.decode(mu[:N_SHOW])
        samples = model.decode(torch.randn(2 * N_SHOW, model.latent_dim, generator=torch.Generator().manual_seed(0)))
    pairs = torch.cat([images[:N_SHOW], recon])
    parts.append(
        "<div class='row'><figure>" + img(image_grid(pairs, N_SHOW, scale=2), "reconstructions",
                                           save_to=figures / "reconstructions.png")
        + "<figcaption>Top: data. Bottom: decoded encoder means.</figcaption></figure>"
        + "<figure>" + img(image_grid(samples, N_SHOW, scale=2), "samples", save_to=figures / "samples.png")
        + "<figcaption>Decoded samples z ~ N(0, I).</figcaption></figure></div>"
    )  # fmt: skip
    follows = ["-"] * model.latent_dim
    if factors is not None:
        from ...explain.latent_factors import latent_factor_table

        tab = latent_factor_table(mu.numpy(), factors, dataset.factor_names)
        follows = tab.follows()
        parts.append(_factor_table(tab, kl_per_dim.numpy()))
    parts.append(_traversals(model, mu[0], kl_per_dim, follows, figures))
    return "".join(parts)


def _examples(data_name: str, model, n: int):
    """Data images (and factor classes for dSprites) to show and to score the latents with."""
    rng = np.random.default_rng(0)
    if data_name == "dsprites":
        from ...data.dsprites import DSprites

        dataset = DSprites()
        images, factors = dataset.sample(n, rng)
        return images, factors, dataset
    from ...data.sources import make_source

    try:
        source = make_source(data_name, model.config.image_size, model.config.in_channels)
    except LatentLensError:
        return torch.rand(0), None, None  # the training folder is gone: samples and traversals still work
    return source.batch(min(n, 256), rng), None, None


def _encode(model, images: torch.Tensor):
    if images.numel() == 0:
        zeros = torch.zeros(1, model.latent_dim)
        return zeros, zeros
    mus, logvars = zip(*(model.encode(chunk) for chunk in images.split(256)))
    return torch.cat(mus), torch.cat(logvars)


def _factor_table(tab, kl_per_dim: np.ndarray) -> str:
    order = np.argsort(-kl_per_dim)
    header = ["latent", "KL (nats)", "follows"] + [f"{name} MI/H" for name in tab.factor_names]
    follows = tab.follows()
    rows = []
    for j in order:
        cells = [f"z{j}", float(kl_per_dim[j]), follows[j]]
        cells += [float(v) for v in tab.normalized_mi[j]]
        rows.append(cells)
    return (
        "<h3>Which factor each latent dimension follows</h3>"
        + table(header, rows)
        + "<p class='note'>Mutual information between each encoder mean (20 equal-width bins) and each "
        "ground-truth factor, divided by the factor's entropy, on 2,000 random dSprites images. 1.0 means the "
        "dimension determines the factor up to the binning (orientation and position cap near 0.81 and 0.85 "
        "with 20 bins). Dimensions with KL near 0 are unused (collapsed to the prior).</p>"
    )


def _traversals(model, z0: torch.Tensor, kl_per_dim: torch.Tensor, follows: list[str], figures: Path) -> str:
    values = traversal_values(2.5, 9)
    order = torch.argsort(kl_per_dim, descending=True).tolist()
    eye = torch.eye(model.latent_dim)[order]
    frames = traverse(model.decode, z0, eye, values)
    sheet = image_grid(frames, len(values), scale=1)
    rows = []
    for row, j in enumerate(order):
        strip = image_grid(frames[row * len(values) : (row + 1) * len(values)], len(values), scale=1)
        rows.append([f"z{j}", f"{float(kl_per_dim[j]):.2f}", follows[j], strip])
    header = "<tr><th>latent</th><th>KL</th><th>follows</th><th>z_j from −2.5 to +2.5</th></tr>"
    body = "".join(
        f"<tr><td>{name}</td><td>{kl}</td><td>{follow}</td><td>{img(strip, name)}</td></tr>"
        for name, kl, follow, strip in rows
    )
    img(sheet, "all traversals", save_to=figures / "traversals.png")
    return (
        "<h3>Latent traversals</h3><p>Each row changes one latent dimension of the first image's code from −2.5 "
        "to +2.5, keeping the others fixed; rows are sorted by KL (most informative first).</p>"
        f"<table>{header}{body}</table>"
    )
