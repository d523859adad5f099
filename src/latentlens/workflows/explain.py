"""Attention maps of every latent dimension of a VAE, written as pictures (``latentlens explain``)."""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger(__name__)


def load_images(spec: str, n: int, seed: int = 0, image_size: int = 64, channels: int | None = 1):
    """``n`` images in [0, 1]: dSprites samples, or a seeded random sample of ``n`` images of a folder
    (resized to ``image_size``; ``channels`` None = as the images are)."""
    import numpy as np

    from ..errors import LatentLensError

    if spec == "dsprites":
        if channels not in (None, 1) or image_size != 64:
            raise LatentLensError(f"dSprites images are 1 x 64 x 64; this model expects {channels} x {image_size}"
                                  f" x {image_size}")  # fmt: skip
        from ..data.dsprites import DSprites

        images, _ = DSprites().sample(n, np.random.default_rng(seed))
        return images.float()
    from ..data.folders import detect_channels, list_images, read_image

    files = list_images(spec)
    pick = np.sort(np.random.default_rng(seed).permutation(len(files))[: min(n, len(files))])
    chosen = [files[i] for i in pick]
    channels = channels or detect_channels(chosen)
    import torch

    return torch.from_numpy(np.stack([read_image(p, image_size, channels) for p in chosen])).float().div_(255.0)


def explain_run(
    run_dir, images_spec: str, out_dir=None, layer=None, variant="paper", latent="mean", n=8, seed=0,
    device="cpu", image_size=None,
) -> dict:  # fmt: skip
    """Attention maps of every latent dimension of the VAE of ``run_dir`` (a run folder, ``zoo:NAME``, or a
    VAE object with ``out_dir=``) on ``n`` images of ``images_spec`` (``"dsprites"`` or a folder, seeded
    sample), written as ``attention/overview.png``, ``attention/mean_maps.png`` and ``attention/summary.json``
    under ``out_dir`` (default: the run folder). Returns the summary."""
    import torch

    from ..adapters import as_vae
    from ..errors import LatentLensError
    from ..explain.vae_attention import VAEAttention
    from ..io import output_folder, write_json
    from ..viz.overlays import attention_figures
    from ._runs import open_model

    run_dir, config, model = open_model(run_dir, out_dir, device)
    role = config["model"].get("role") if config["kind"] == "external" else config["kind"]
    if role not in ("vae", "module"):
        raise LatentLensError(f"{run_dir} is not a VAE run; attention maps explain VAE encoders")
    adapter = config.get("adapter", {})
    vae = as_vae(model, latent_dim=adapter.get("latent_dim"), output_range="unit")
    cfg = getattr(getattr(vae, "layer_root", vae), "config", None)
    size = image_size or adapter.get("image_size") or getattr(cfg, "image_size", 64)
    channels = getattr(cfg, "in_channels", None)
    x = load_images(images_spec, n, seed, size, channels)
    device = next(iter(vae.parameters()), torch.zeros(())).device
    explainer = VAEAttention(vae, layer or "auto", variant, latent)
    try:
        result = explainer.attribute(x.to(device), generator=torch.Generator().manual_seed(seed))
    except RuntimeError as exc:
        raise LatentLensError(f"the model could not encode {size}x{size} images ({exc}); pass the size it reads "
                              "(image_size= / --model-image-size)") from None  # fmt: skip
    out = output_folder((Path(out_dir) if out_dir else Path(run_dir)) / "attention")
    figures = attention_figures(x, result)
    for name, picture in figures["pictures"].items():
        from ..viz.overlays import save_png

        save_png(out / name, picture)
    summary = {
        "run": str(run_dir), "images": images_spec, "n": int(len(x)), "layer": result.layer,
        "variant": variant, "latent": latent, "labels": result.labels, "seed": seed,
        "mean_attention": figures["mean_attention"], "shown": figures["shown"],
        "colour_scale": figures["colour_scale"], "files": sorted(figures["pictures"]),
    }  # fmt: skip
    write_json(out / "summary.json", summary)
    return summary
