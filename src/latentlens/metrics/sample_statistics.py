"""Does a generator draw what dSprites holds? Shape frequencies and mean intensity of its samples.

dSprites holds the three shapes equally often (1/3 each) and its mean pixel intensity is
128,328,862 / (737,280 * 64 * 64) = 0.042494. A generator trained on it should match both: a GAN that
mode-collapses onto one shape, or that draws grey haze, fails one of them. Shapes are read by the dSprites
factor predictor (:mod:`latentlens.metrics.factor_predictor`), which was trained on the true labels.
"""

from __future__ import annotations

import numpy as np
import torch

DSPRITES_MEAN_INTENSITY = 128_328_862 / (737_280 * 64 * 64)
SHAPES = ("square", "ellipse", "heart")


@torch.inference_mode()
def generator_samples(generator, n: int, seed: int = 0, batch_size: int = 500) -> torch.Tensor:
    """``n`` images in [0, 1] from a model with ``sample_latents`` and ``__call__`` (a GAN generator) or with
    ``decode`` (a VAE: prior samples), drawn in batches from a fixed seed, on CPU."""
    gen = torch.Generator().manual_seed(seed)
    latent_dim = generator.latent_dim
    device = next(generator.parameters()).device
    draw = generator.decode if hasattr(generator, "decode") else generator
    generator.eval()
    out = []
    for start in range(0, n, batch_size):
        z = torch.randn(min(batch_size, n - start), latent_dim, generator=gen).to(device)
        out.append(draw(z).float().cpu())
    return torch.cat(out)


def shape_statistics(images: torch.Tensor, predictor) -> dict:
    """Fraction of ``images`` the predictor reads as each shape (argmax), their mean intensity, and its
    ratio to dSprites' mean intensity."""
    probs = predictor.predict(images)["shape"]
    counts = np.bincount(probs.argmax(1).numpy(), minlength=3) / len(images)
    mean = float(images.mean())
    return {
        **{f"fraction_{s}": round(float(c), 4) for s, c in zip(SHAPES, counts)},
        "mean_intensity": round(mean, 5),
        "data_mean_intensity": round(DSPRITES_MEAN_INTENSITY, 5),
        "intensity_ratio": round(mean / DSPRITES_MEAN_INTENSITY, 4),
        "mean_shape_confidence": round(float(probs.max(1).values.mean()), 4),
        "num_samples": len(images),
    }


def gan_shape_statistics(generator, n: int = 10_000, seed: int = 0, predictor=None) -> dict:
    """:func:`shape_statistics` of ``n`` samples; the predictor defaults to the zoo's (or the cached one)."""
    if predictor is None:
        from .factor_predictor import load_or_train_factor_predictor

        predictor = load_or_train_factor_predictor()
    return shape_statistics(generator_samples(generator, n, seed), predictor)


def ddpm_shape_statistics(model, n: int = 2000, steps: int = 20, seed: int = 0, predictor=None) -> dict:
    """:func:`shape_statistics` of ``n`` DDIM samples (``steps`` steps, eta 0) of a diffusion model with
    ``sample(n, steps=, generator=)``, such as :class:`~latentlens.models.ddpm.DDPM`."""
    if predictor is None:
        from .factor_predictor import load_or_train_factor_predictor

        predictor = load_or_train_factor_predictor()
    images = model.sample(n, steps=steps, generator=torch.Generator().manual_seed(seed))
    return {**shape_statistics(images, predictor), "ddim_steps": steps}


def draws_the_data(stats: dict, shape_tolerance: float = 0.05, intensity_tolerance: float = 0.10) -> bool:
    """The zoo's bar: each shape at 1/3 +- ``shape_tolerance`` and the mean intensity within
    ``intensity_tolerance`` (relative) of dSprites'."""
    shapes_ok = all(abs(stats[f"fraction_{s}"] - 1 / 3) <= shape_tolerance for s in SHAPES)
    return shapes_ok and abs(stats["intensity_ratio"] - 1) <= intensity_tolerance
