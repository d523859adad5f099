"""``latentlens explain --run RUN --images PATH|dsprites [--out DIR] [--layer --variant --n]``: attention
maps of every latent dimension of a trained VAE (Liu et al. 2020, Eqs. 1-3), written as PNG overlays
plus ``attention/summary.json`` for the report."""

from __future__ import annotations

import logging
from pathlib import Path

from . import positive_int

log = logging.getLogger(__name__)

MAX_DIMS_SHOWN = 16


def add_parser(subparsers) -> None:
    from ..explain.vae_attention import DEFAULT_LAYER, VARIANTS

    p = subparsers.add_parser("explain", help="attention maps of each VAE latent dimension")
    p.add_argument("--run", required=True, help="a VAE run folder (from `latentlens train vae`), or zoo:NAME")
    p.add_argument("--images", required=True, help="'dsprites' or a folder of images")
    p.add_argument("--out", default=None, help="folder to write into (default: the run folder)")
    p.add_argument("--layer", default=DEFAULT_LAYER, help=f"encoder layer (default {DEFAULT_LAYER})")
    p.add_argument("--variant", choices=VARIANTS, default="paper", help="paper (Eqs. 1-3), official, signed")
    p.add_argument("--latent", choices=["mean", "sample"], default="mean", help="explain mu (default) or sampled z")
    p.add_argument("--n", type=positive_int, default=8, help="number of images to explain")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run)


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

    run_dir = Path(run_dir)
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


def run(args) -> int:
    summary = explain_run(args.run, args.images, args.out, args.layer, args.variant, args.latent, args.n, args.seed)
    log.info("wrote attention maps of %d images (layer %s, variant %s) to %s", summary["n"], summary["layer"],
             summary["variant"], Path(args.out or args.run) / "attention")  # fmt: skip
    return 0


def demo_step(run_dir, args) -> None:
    """Demo step: attention maps of the demo's dSprites VAE (skipped when already written)."""
    if (Path(run_dir) / "attention" / "summary.json").exists():
        return
    explain_run(run_dir, "dsprites", n=8, seed=getattr(args, "seed", 0))
