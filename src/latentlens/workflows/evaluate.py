"""Score a VAE's latent space against known factors (``latentlens evaluate``).

On dSprites (a run trained on it, or ``data="dsprites"``) all disentanglement_lib metrics run with a preset.
On your own images, ``data=FOLDER`` with ``labels=CSV`` (or class sub-folders) scores the encoder means of
those images with the observational metrics (:mod:`latentlens.metrics.labelled`). Scores are merged into
``RUN/metrics.json``, which the report's metrics section draws.
"""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger(__name__)


def evaluate_run(
    run_dir, metrics="all", preset="fast", representation="mean", seed=0, progress=True, data=None, labels=None,
    device="cpu", out=None, image_size=None,
) -> dict:  # fmt: skip
    """Evaluate the VAE of ``run_dir`` (a run folder, ``zoo:NAME`` or a VAE object with ``out=``); see the
    module docstring. ``metrics``: ``"all"`` or a comma-separated string / list of names; ``image_size``: the
    size your model reads (default: its config, else 64)."""
    from ..adapters import as_vae
    from ..errors import LatentLensError
    from ..io import ensure_writable_dir, update_json
    from ..metrics import evaluate_representation, vae_representation
    from ._runs import open_model, run_data

    run_dir, config, model = open_model(run_dir, out, device)
    role = config["model"].get("role") if config["kind"] == "external" else config["kind"]
    if role not in ("vae", "module"):
        raise LatentLensError(f"evaluate scores VAEs (an encoder); {run_dir} holds a {role}")
    vae = as_vae(model, **{k: v for k, v in config.get("adapter", {}).items() if k == "latent_dim"},
                 output_range="unit")  # fmt: skip
    data = data or ("dsprites" if run_data(config) == "dsprites" else None)
    chosen = metrics if not isinstance(metrics, str) or metrics == "all" else [
        m.strip() for m in metrics.split(",") if m.strip()
    ]  # fmt: skip
    if data == "dsprites":
        if labels is not None:
            raise LatentLensError("dSprites brings its own factors; --labels is for your own images")
        from ..data.dsprites import DSprites

        result = evaluate_representation(
            DSprites(), vae_representation(vae, mode=representation, random_state=seed), chosen, preset, seed,
            show_progress=progress,
        )  # fmt: skip
    elif data is None:
        raise LatentLensError("evaluate needs ground-truth factors: a run trained on dsprites, or --data FOLDER "
                              "with --labels CSV (or class sub-folders)")  # fmt: skip
    else:
        size = image_size or config.get("adapter", {}).get("image_size")
        result = _evaluate_labelled(vae, data, labels, chosen, representation, seed, size)
    result["representation"] = representation
    ensure_writable_dir(run_dir)
    update_json(Path(run_dir) / "metrics.json", result)
    return result


def _evaluate_labelled(vae, folder, labels, metrics, representation, seed, image_size=None) -> dict:
    import numpy as np

    from ..data.labels import labelled_images
    from ..errors import LatentLensError
    from ..metrics import vae_representation
    from ..metrics.labelled import OBSERVATIONAL, evaluate_codes

    size, channels = _input_format(vae)
    size = image_size or size
    data = labelled_images(folder, labels, size, channels)
    try:
        codes = vae_representation(vae, mode=representation, random_state=seed)(data.images.float().div_(255.0))
    except RuntimeError as exc:  # shape mismatches inside the user's network
        raise LatentLensError(f"the model could not encode {size}x{size} images ({exc}); pass the size it reads "
                              "(image_size= / --model-image-size)") from None  # fmt: skip
    chosen = list(OBSERVATIONAL) if metrics == "all" else list(metrics)
    result = evaluate_codes(np.asarray(codes), data.factors, data.factor_names, chosen, random_state=seed)
    result["recipe"] = {"data": str(folder), "labels": str(labels) if labels else "class sub-folders",
                        "factor_classes": {n: v for n, v in zip(data.factor_names, data.class_values)}}  # fmt: skip
    return result


def _input_format(vae) -> tuple[int, int | None]:
    """``(image_size, channels)`` for loading images: the model's config when it has one, else 64 and the
    images' own channels."""
    cfg = getattr(getattr(vae, "layer_root", vae), "config", None)
    if cfg is not None and hasattr(cfg, "image_size"):
        return cfg.image_size, cfg.in_channels
    return 64, None
