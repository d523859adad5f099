"""``latentlens anomaly fit|test``: anomaly localisation with a VAE trained on normal images only.

``fit --data DIR --category C --out RUN`` trains a VAE on ``train/good`` minus a seeded held-out part
(kept to choose thresholds), and stores the normal statistics of Eq. 4. ``test --run RUN`` scores the
category's test images with every method of :mod:`latentlens.explain.anomaly` (or ``--method NAME``)
and writes ``RUN/metrics.json`` (``default_method`` and ``methods: {name: {image_auroc, pixel_auroc,
aupro, f1, ...}}``) plus overlays of the best- and worst-localised defective images.
"""

from __future__ import annotations

import logging
from pathlib import Path

from . import positive_float, positive_int

log = logging.getLogger(__name__)

STATE = "anomaly.json"
STATS = "anomaly_normal.safetensors"
N_CASES = 4


def add_parser(subparsers) -> None:
    from ..explain.anomaly import METHODS
    from ..explain.vae_attention import DEFAULT_LAYER

    p = subparsers.add_parser("anomaly", help="anomaly localisation: train on normal images, test on defects")
    sub = p.add_subparsers(dest="anomaly_command", metavar="ACTION", required=True)
    f = sub.add_parser("fit", help="train a VAE on a category's normal images (MVTec AD layout)")
    f.add_argument("--data", required=True, help="folder with <category>/train/good (MVTec AD layout)")
    f.add_argument("--category", default=None, help="category sub-folder (omit if --data is the category)")
    f.add_argument("--out", required=True, help="run folder to write")
    f.add_argument("--steps", type=positive_int, default=1500)
    f.add_argument("--image-size", type=positive_int, default=64, help="multiple of 16")
    f.add_argument("--channels", type=int, choices=[1, 3], default=None, help="default: detected")
    f.add_argument("--latent-dim", type=positive_int, default=32)
    f.add_argument("--batch-size", type=positive_int, default=32)
    f.add_argument("--lr", type=positive_float, default=1e-3)
    f.add_argument("--val-fraction", type=positive_float, default=0.15,
                   help="share of train/good held out to choose thresholds (never the test set)")  # fmt: skip
    f.add_argument("--layer", default=DEFAULT_LAYER, help="encoder layer of the gradient maps")
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--resume", action="store_true")
    f.add_argument("--no-progress", action="store_true")
    f.set_defaults(func=run_fit)
    t = sub.add_parser("test", help="score the test images and write metrics.json and overlays")
    t.add_argument("--run", required=True, help="run folder written by `anomaly fit`")
    t.add_argument("--data", default=None, help="default: the folder used by fit")
    t.add_argument("--category", default=None, help="default: the category used by fit")
    t.add_argument("--method", default="all", choices=("all",) + METHODS, help="map(s) to evaluate (default all)")
    t.add_argument("--fpr", type=positive_float, default=0.005,
                   help="pixel false-positive rate on held-out normal images that sets the F1 threshold")  # fmt: skip
    t.set_defaults(func=run_test)


def fit_category(
    data, category, out, steps=1500, image_size=64, channels=None, latent_dim=32, batch_size=32, lr=1e-3,
    val_fraction=0.15, layer=None, seed=0, resume=False, progress=True,
) -> dict:  # fmt: skip
    """Train the normal-data VAE and store what ``test`` needs; returns the stored state."""
    import torch

    from ..data.mvtec import category_root, load_train, split_normal
    from ..data.sources import TensorSource
    from ..errors import LatentLensError
    from ..explain.anomaly import aggregate_posterior
    from ..explain.vae_attention import DEFAULT_LAYER, resolve_layer
    from ..io import ensure_writable_dir, save_tensors, write_json
    from ..train.loop import TrainSettings
    from ..train.vae import train_vae

    if image_size % 16:
        raise LatentLensError(f"--image-size must be a multiple of 16, got {image_size}")
    root = category_root(data, category)
    train = load_train(data, category, image_size, channels)
    fit_idx, val_idx = split_normal(len(train), val_fraction, seed)
    out = ensure_writable_dir(out)
    images = (train.images[fit_idx] * 255.0).round().to(torch.uint8)
    source = TensorSource(images, name=f"{root}")
    settings = TrainSettings(steps=steps, batch_size=batch_size, lr=lr, seed=seed, progress=progress,
                             checkpoint_every=max(1, min(250, steps)))  # fmt: skip
    config = {"latent_dim": latent_dim}
    model = train_vae(source, out, settings, config, "beta-vae", {"beta": 1.0}, resume=resume)
    resolve_layer(model, layer or DEFAULT_LAYER)
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


def run_fit(args) -> int:
    state = fit_category(
        args.data, args.category, args.out, args.steps, args.image_size, args.channels, args.latent_dim,
        args.batch_size, args.lr, args.val_fraction, args.layer, args.seed, args.resume, not args.no_progress,
    )  # fmt: skip
    log.info("trained on %d normal images of %s (%d held out): %s", state["n_fit"], state["category_root"],
             len(state["held_out"]), args.out)  # fmt: skip
    return 0


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

    from ..viz.overlays import caption, draw_contour, grid, overlay, robust_range, save_png, to_rgb_uint8, upscale

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


def run_test(args) -> int:
    methods = None if args.method == "all" else [args.method]
    if args.category is not None and args.data is None:
        from ..errors import LatentLensError

        raise LatentLensError("--category needs --data")
    metrics = evaluate_run(args.run, args.data, args.category, methods, args.fpr)
    log.info("wrote %s (default method %s)", Path(args.run) / "metrics.json", metrics["default_method"])
    return 0
