"""Anomaly localisation with a VAE trained on normal images (``latentlens anomaly fit|test``)."""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger(__name__)


STATE = "anomaly.json"
STATS = "anomaly_normal.safetensors"
N_CASES = 4


def fit_category(
    data, category, out, steps=1500, image_size=64, channels=None, latent_dim=32, batch_size=32, lr=1e-3,
    val_fraction=0.15, layer=None, seed=0, resume=False, progress=True, beta=1.0,
) -> dict:  # fmt: skip
    """Train the normal-data VAE (beta-VAE objective, weight ``beta`` on the KL term) and store what ``test``
    needs; returns the stored state."""
    import torch

    from ..data.mvtec import category_root, load_train, split_normal
    from ..data.sources import TensorSource
    from ..errors import LatentLensError
    from ..explain.anomaly import aggregate_posterior
    from ..explain.vae_attention import DEFAULT_LAYER, resolve_layer
    from ..io import output_folder, save_tensors, write_json
    from ..train.loop import TrainSettings
    from ..train.vae import train_vae

    if image_size % 16:
        raise LatentLensError(f"--image-size must be a multiple of 16, got {image_size}")
    root = category_root(data, category)
    train = load_train(data, category, image_size, channels)
    fit_idx, val_idx = split_normal(len(train), val_fraction, seed)
    from ..models import build_model

    probe = build_model("vae", {"latent_dim": latent_dim, "image_size": image_size,
                                "in_channels": int(train.images.shape[1])})  # fmt: skip
    resolve_layer(probe, layer or DEFAULT_LAYER)  # a bad --layer is refused before any training
    out = output_folder(out)
    images = (train.images[fit_idx] * 255.0).round().to(torch.uint8)
    source = TensorSource(images, name=f"{root}")
    settings = TrainSettings(steps=steps, batch_size=batch_size, lr=lr, seed=seed, progress=progress,
                             checkpoint_every=max(1, min(250, steps)))  # fmt: skip
    config = {"latent_dim": latent_dim}
    model = train_vae(source, out, settings, config, "beta-vae", {"beta": float(beta)}, resume=resume)
    stats = aggregate_posterior(model, train.images[fit_idx])
    save_tensors(out / STATS, stats.to_tensors())
    state = {
        "data": str(Path(data).resolve()),
        "category": category,
        "category_root": str(root.resolve()),
        "image_size": image_size,
        "channels": int(train.images.shape[1]),
        "layer": layer or DEFAULT_LAYER,
        "seed": seed,
        "val_fraction": val_fraction,
        "n_fit": int(len(fit_idx)),
        "held_out": [train.paths[i].name for i in val_idx],
    }
    write_json(out / STATE, state)
    return state


def evaluate_run(run_dir, data=None, category=None, methods=None, fpr: float = 0.005, write: bool = True) -> dict:
    """Score the test split with ``methods`` (default all); write ``metrics.json`` and overlays."""
    from ..data.mvtec import load_test, load_train
    from ..errors import LatentLensError
    from ..explain.anomaly import DEFAULT_METHOD, METHODS, AnomalyMapper, NormalStats
    from ..io import load_tensors, read_json, update_json
    from ..metrics.anomaly import localization_metrics, per_image_auroc
    from ..train.checkpoint import load_model

    run_dir = Path(run_dir)
    if not (run_dir / STATE).exists():
        raise LatentLensError(f"{run_dir} is not an anomaly run (no {STATE}); run `latentlens anomaly fit` first")
    state = read_json(run_dir / STATE)
    model = load_model(run_dir)
    stats = NormalStats.from_tensors(load_tensors(run_dir / STATS))
    if data is None:
        data, category = state["data"], state["category"]
    size, channels = state["image_size"], state["channels"]
    test = load_test(data, category, size, channels)
    n_bad = int(test.labels.sum())
    if n_bad == 0 or n_bad == len(test.labels):
        missing = "defective" if n_bad == 0 else "good (defect-free)"
        raise LatentLensError(f"the test split of {category or data} has no {missing} images: AUROC and the "
                              "thresholds need both; nothing was written")  # fmt: skip
    train = load_train(data, category, size, channels)
    held = set(state["held_out"])
    val_idx = [i for i, p in enumerate(train.paths) if p.name in held]
    if not val_idx:
        raise LatentLensError("none of the held-out normal images recorded at fit time were found")
    normal = train.images[val_idx]
    mapper = AnomalyMapper(model, state["layer"], stats)
    methods = list(methods or METHODS)
    results, maps_by_method = {}, {}
    for method in methods:
        maps = mapper.maps(test.images, method)
        normal_maps = mapper.maps(normal, method)
        row = localization_metrics(
            maps, test.masks, mapper.image_scores(maps), test.labels,
            normal_pixel_scores=normal_maps, normal_image_scores=mapper.image_scores(normal_maps), fpr=fpr,
        )  # fmt: skip
        results[method] = {k: (None if v != v else float(v)) for k, v in row.items()}
        maps_by_method[method] = maps
        log.info("%-14s pixel AUROC %.3f  AUPRO %.3f  image AUROC %.3f  F1 %.3f", method,
                 row["pixel_auroc"], row["aupro"], row["image_auroc"], row["f1"])  # fmt: skip
    if not write:
        return {"methods": results}
    shown = DEFAULT_METHOD if DEFAULT_METHOD in maps_by_method else methods[0]
    cases = _write_cases(run_dir, test, maps_by_method[shown], results[shown]["pixel_threshold"], shown,
                         per_image_auroc(maps_by_method[shown], test.masks))  # fmt: skip
    previous = read_json(run_dir / "metrics.json").get("methods", {}) if (run_dir / "metrics.json").exists() else {}
    update = {
        "default_method": DEFAULT_METHOD,
        "methods": {**previous, **results},
        "anomaly": {
            "category": category, "data": str(data), "n_test": len(test), "n_defective": int(test.labels.sum()),
            "n_held_out_normal": len(val_idx), "fpr": fpr, "layer": state["layer"], "overlays": cases,
            "image_score": "max of the map", "pixel_auroc": "pooled over all test pixels",
            "aupro": "MVTec recipe, integrated to FPR 0.3, divided by 0.3",
        },
    }  # fmt: skip
    return update_json(run_dir / "metrics.json", update)


def _write_cases(run_dir: Path, test, maps, threshold, method, scores) -> dict:
    """Best and worst localised defective images: image + GT outline | map | map > threshold."""
    import numpy as np

    from ..viz.overlays import (
        caption,
        draw_contour,
        grid,
        overlay,
        robust_range,
        save_png,
        to_rgb_uint8,
        upscale,
    )

    out = run_dir / "anomaly"
    out.mkdir(parents=True, exist_ok=True)
    defective = np.nonzero(test.labels.numpy() == 1)[0]
    valid = [i for i in defective if np.isfinite(scores[i])]
    order = sorted(valid, key=lambda i: scores[i])
    lo, hi = robust_range(maps.numpy())
    scale = max(1, 128 // test.images.shape[-1])
    files = {}
    for name, picks in (("worst", order[:N_CASES]), ("best", order[::-1][:N_CASES])):
        rows = []
        for k, i in enumerate(picks):
            img = to_rgb_uint8(test.images[i])
            mask = test.masks[i, 0].numpy()
            m = maps[i, 0].numpy()
            pred = np.repeat(((m > threshold) * 255).astype(np.uint8)[..., None], 3, axis=-1)
            tiles = [draw_contour(img, mask, (0, 255, 0)), draw_contour(overlay(img, m, lo, hi), mask),
                     draw_contour(pred, mask, (0, 255, 0))]  # fmt: skip
            tiles = [upscale(t, scale) for t in tiles]
            label = f"{test.defect_types[i]} {test.paths[i].stem} AUROC {scores[i]:.2f}"
            tiles[0] = caption(tiles[0], label)
            tiles[1:] = [caption(t, s) for t, s in zip(tiles[1:], (method, "map > threshold"))]
            rows.append(tiles)
        path = out / f"{method}_{name}.png"
        save_png(path, grid(rows))
        files[name] = str(path.relative_to(run_dir))
    return {"method": method, **files}
