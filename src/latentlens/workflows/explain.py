"""Attention maps of every latent dimension of a VAE, written as pictures (``latentlens explain``)."""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger(__name__)


MAX_DIMS_SHOWN = 16


def load_images(spec: str, model, n: int, seed: int = 0):
    """``n`` images for ``model``: dSprites samples or the first ``n`` images of a folder, in [0, 1]."""
    import numpy as np

    from ..errors import LatentLensError

    cfg = model.config
    if spec == "dsprites":
        if cfg.in_channels != 1 or cfg.image_size != 64:
            raise LatentLensError("dSprites images are 1 x 64 x 64; this model expects "
                                  f"{cfg.in_channels} x {cfg.image_size} x {cfg.image_size}")  # fmt: skip
        from ..data.dsprites import DSprites

        images, _ = DSprites().sample(n, np.random.default_rng(seed))
        return images.float()
    from ..data.folders import load_image_folder

    return load_image_folder(spec, cfg.image_size, cfg.in_channels)[:n].float().div_(255.0)


def explain_run(run_dir, images_spec: str, out_dir=None, layer=None, variant="paper", latent="mean", n=8, seed=0) -> dict:
    """Compute and write the attention figures; returns the summary written to ``attention/summary.json``."""
    import numpy as np
    import torch

    from ..errors import LatentLensError
    from ..explain.vae_attention import DEFAULT_LAYER, VAEAttention
    from ..io import ensure_writable_dir, write_json
    from ..train.checkpoint import load_model, load_run_config
    from ..viz.overlays import caption, colorize, grid, overlay, robust_range, save_png, to_rgb_uint8, upscale

    from ..zoo import resolve_run

    run_dir = resolve_run(run_dir)  # a folder, or zoo:NAME
    if load_run_config(run_dir).get("kind") != "vae":
        raise LatentLensError(f"{run_dir} is not a VAE run; attention maps explain VAE encoders")
    model = load_model(run_dir)
    x = load_images(images_spec, model, n, seed)
    out = ensure_writable_dir(Path(out_dir) if out_dir else run_dir) / "attention"
    layer = layer or DEFAULT_LAYER
    result = VAEAttention(model, layer, variant, latent).attribute(x, generator=torch.Generator().manual_seed(seed))
    maps, overall = result.maps.numpy(), result.overall.numpy()
    mass = maps.mean(axis=(0, 2, 3))  # mean attention per target
    shown = np.argsort(-mass)[:MAX_DIMS_SHOWN] if len(mass) > MAX_DIMS_SHOWN else np.arange(len(mass))
    scale = max(1, 96 // x.shape[-1])
    lo, hi = robust_range(maps[:, shown])
    olo, ohi = robust_range(overall)
    rows = []
    for i in range(len(x)):
        image = to_rgb_uint8(x[i])
        tiles = [image, overlay(image, overall[i, 0], olo, ohi)] + [overlay(image, maps[i, d], lo, hi) for d in shown]
        tiles = [upscale(t, scale) for t in tiles]
        if i == 0:
            names = ["image", "overall"] + [result.labels[d] for d in shown]
            tiles = [caption(t, s) for t, s in zip(tiles, names)]
        rows.append(tiles)
    ensure_writable_dir(out)
    save_png(out / "overview.png", grid(rows))
    # the mean map of each dimension over the images: is a dimension's attention consistent?
    mean_tiles = [caption(upscale(colorize(maps[:, d].mean(0), lo, hi), scale), result.labels[d]) for d in shown]
    save_png(out / "mean_maps.png", grid([mean_tiles]))
    summary = {
        "run": str(run_dir),
        "images": images_spec,
        "n": int(len(x)),
        "layer": layer,
        "variant": variant,
        "latent": latent,
        "labels": result.labels,
        "mean_attention": [float(v) for v in mass],
        "shown": [int(d) for d in shown],
        "colour_scale": [lo, hi],
        "files": ["overview.png", "mean_maps.png"],
    }
    write_json(out / "summary.json", summary)
    return summary


def demo_step(run_dir, args) -> None:
    """Demo step: attention maps of the demo's dSprites VAE (skipped when already written)."""
    if (Path(run_dir) / "attention" / "summary.json").exists():
        return
    explain_run(run_dir, "dsprites", n=8, seed=getattr(args, "seed", 0))
