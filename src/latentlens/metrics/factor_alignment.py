"""Factor alignment of latent directions on dSprites.

**Factor alignment on dSprites** (the re-scoring matrix of SeFa / InterFaceGAN, research/directions.md
§6.3, with a learned predictor for all five factors): a small CNN (:class:`FactorPredictor`) is trained on
dSprites with its true labels. For direction ``d_k`` and latents ``z`` we predict the factors of
``G(z - a d_k)`` and ``G(z + a d_k)`` and measure per factor how much they changed — shape: total variation
of the predicted class probabilities; scale / posX / posY: absolute difference of the predicted values in
[0, 1]; orientation: half the distance between the predicted ``(cos 4 theta, sin 4 theta)`` vectors
(invariant to the square's symmetry; kept at their predicted length, at most 1, so an ill-defined
orientation counts little, and weighted by how much the shape stayed the same) — each divided by the same change between two random dSprites images, so 1 means "as
much as a random resample". The ``K x 5`` matrix of mean changes gives each direction a *main factor*
(argmax), a *purity* (main / sum) and a *magnitude* (main). A factor is *controlled* by a method when some
direction with that main factor has magnitude >= ``min_effect`` and purity >= ``purity_threshold`` (0.7).
"""

from __future__ import annotations

import numpy as np
import torch

from .factor_predictor import FACTOR_NAMES, FactorPredictor


def _changes(p0: dict, p1: dict) -> torch.Tensor:
    """Per-sample change of each factor between two predictions -> (N, 5) in FACTOR_NAMES order.

    An orientation is only comparable between two sprites of the same shape (a heart's angle and a square's
    angle have different meanings), so the orientation change is weighted by ``1 - TV(shape)``."""
    shape = 0.5 * (p0["shape"] - p1["shape"]).abs().sum(1)
    return torch.stack([
        shape,
        (p0["scale"] - p1["scale"]).abs(),
        (1 - shape) * (p0["orientation"] - p1["orientation"]).norm(dim=1) / 2,
        (p0["posX"] - p1["posX"]).abs(),
        (p0["posY"] - p1["posY"]).abs(),
    ], 1)  # fmt: skip


def reference_changes(predictor: FactorPredictor, n: int = 2000, random_state: int = 321) -> torch.Tensor:
    """Mean predicted change of each factor between two independent dSprites images (the unit of alignment;
    for orientation, two independent images of the same shape)."""
    from ..data.dsprites import DSprites

    data = DSprites()
    rng = np.random.default_rng(random_state)
    fa, fb = data.sample_factors(n, rng), data.sample_factors(n, rng)
    pa = predictor.predict(data.images(fa))
    ref = _changes(pa, predictor.predict(data.images(fb))).mean(0)
    fb[:, 0] = fa[:, 0]  # orientation is compared between sprites of the same shape (see _changes)
    ref[2] = _changes(pa, predictor.predict(data.images(fb)))[:, 2].mean()
    return ref.clamp_min(1e-6)


@torch.inference_mode()
def factor_effects(
    generator, directions, predictor: FactorPredictor, *, n_samples: int = 64, amplitude: float = 1.0,
    reference: torch.Tensor | None = None, random_state: int = 0, batch_size: int = 512,
) -> torch.Tensor:  # fmt: skip
    """``(K, 5)`` mean normalised change of each dSprites factor between ``G(z - a d_k)`` and ``G(z + a d_k)``."""
    from ..directions.base import shifted_images
    from ..directions.generators import as_generator

    gen = as_generator(generator)
    basis = torch.as_tensor(getattr(directions, "basis", directions), dtype=torch.float32)
    basis = basis / basis.norm(dim=1, keepdim=True).clamp_min(1e-12)
    k, d = basis.shape
    z = gen.sample_latents(n_samples, torch.Generator().manual_seed(random_state + 4242)).float()
    shifts = amplitude * torch.tensor([-1.0, 1.0])[None, None, :, None] * basis[None, :, None, :]
    shifts = shifts.expand(n_samples, k, 2, d).reshape(-1, d)  # (n, K, 2) rows
    rows = z.repeat_interleave(2 * k, dim=0)
    imgs = torch.cat([shifted_images(gen, rows[s : s + batch_size], shifts[s : s + batch_size]).float().cpu()
                      for s in range(0, len(rows), batch_size)])  # fmt: skip
    p = predictor.predict(imgs)
    p0 = {key: v[0::2] for key, v in p.items()}
    p1 = {key: v[1::2] for key, v in p.items()}
    change = _changes(p0, p1).view(n_samples, k, len(FACTOR_NAMES)).mean(0)
    if reference is not None:
        change = change / reference
    return change


def alignment_summary(effects, purity_threshold: float = 0.7, min_effect: float = 0.15) -> dict:
    """Main factor, purity and magnitude per direction; controlled factors per method (see module doc)."""
    e = torch.as_tensor(effects, dtype=torch.float64).clamp_min(0)
    main = e.argmax(1)
    magnitude = e.max(1).values
    purity = magnitude / e.sum(1).clamp_min(1e-12)
    best: dict[str, float] = {}
    best_dir: dict[str, int] = {}
    for k in range(e.shape[0]):
        if magnitude[k] < min_effect:
            continue
        name = FACTOR_NAMES[int(main[k])]
        if float(purity[k]) > best.get(name, -1.0):
            best[name], best_dir[name] = float(purity[k]), k
    controlled = sorted(n for n, p in best.items() if p >= purity_threshold)
    active = magnitude >= min_effect
    return {
        "effects": e.tolist(),
        "factor_names": list(FACTOR_NAMES),
        "main_factor": [FACTOR_NAMES[int(i)] for i in main],
        "purity_per_direction": purity.tolist(),
        "magnitude_per_direction": magnitude.tolist(),
        "best_purity_per_factor": best,
        "best_direction_per_factor": best_dir,
        "controlled_factors": controlled,
        "factors_controlled": len(controlled),
        "purity": float(np.mean(list(best.values()))) if best else 0.0,
        "mean_active_purity": float(purity[active].mean()) if bool(active.any()) else 0.0,
        "n_active": int(active.sum()),
        "purity_threshold": purity_threshold,
        "min_effect": min_effect,
    }
