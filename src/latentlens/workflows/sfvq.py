"""``latentlens sfvq``: fit a space-filling curve to a run's latents and read the latent space along it.

Writes into ``OUT`` (default ``RUN/sfvq``):

- ``curve.safetensors`` + ``curve.json``: the fitted :class:`~latentlens.directions.sfvq.SpaceFillingVQ`;
- ``corners_b<B>.png``: the corner images in curve order, one strip per bitrate (the hierarchy);
- ``distances.png``: corner-to-corner distances (blocks = regions of the curve);
- ``histograms_<factor>.png`` (with labels): per value of a factor, where on the curve its images lie;
- ``summary.json``: locality ratio, curve / k-means / plain-VQ errors, per factor the mean Jensen-Shannon
  distance between its values and their contiguous runs, and the ranked lines with their main factor,
  purity (dSprites), identity error and the commutativity of the top two (VAEs);
- ``RUN/directions/sfvq.*``: the ranked lines as a Directions artifact (traversal sheets, the report and the
  explorer read it);
- with ``augment_lines``: ``augment/line_<j>/*.png`` images sampled along chosen lines, and ``manifest.csv``.

Labels: dSprites factors (binned) for a run trained on dSprites, or a user's CSV / class sub-folders with
``data=`` and ``labels=``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

log = logging.getLogger(__name__)

DSPRITES_BINS = {"shape": 3, "scale": 6, "orientation": 4, "posX": 4, "posY": 4}


def _latents_and_labels(model, config, generator, n: int, seed: int, data=None, labels=None):
    """``(latents (n, D), {factor: labels} or {})``: a VAE's encoder means of data images with their factors,
    else the generator's latents (prior) without labels."""
    from ..adapters import as_vae
    from ..directions.generators import looks_like_vae
    from ._runs import run_data

    data = data or run_data(config)
    if looks_like_vae(model) or callable(getattr(model, "encode", None)):
        vae = as_vae(model, output_range="unit")
        if data == "dsprites":
            from ..data.dsprites import DSprites

            ds = DSprites()
            factors = ds.sample_factors(n, np.random.default_rng(seed))
            images = ds.images(factors)
            names = list(ds.factor_names)
            binned = {name: (factors[:, i] * DSPRITES_BINS[name] // ds.factor_sizes[i]) for i, name in enumerate(names)}
            return _encode(vae, images), binned
        if data is not None and Path(str(data)).is_dir():
            from ..data.labels import labelled_images

            cfg = getattr(getattr(vae, "layer_root", vae), "config", None)
            li = labelled_images(data, labels, getattr(cfg, "image_size", 64), getattr(cfg, "in_channels", None))
            return _encode(vae, li.images.float().div_(255.0)), {n: li.factors[:, i] for i, n in enumerate(li.factor_names)}
    z = generator.sample_latents(n, torch.Generator().manual_seed(seed)).float().cpu()
    if data == "dsprites":  # a generator of dSprites: its images labelled by the factor predictor
        return z, _predicted_factors(generator, z)
    return z, {}


@torch.inference_mode()
def _predicted_factors(generator, z: torch.Tensor) -> dict:
    """dSprites factors of generated images as read by the factor predictor, binned as for real images."""
    from ..metrics.factor_predictor import load_or_train_factor_predictor

    predictor = load_or_train_factor_predictor()
    images = torch.cat([generator(z[s : s + 500]).float().cpu() for s in range(0, len(z), 500)])
    p = predictor.predict(images)
    angle = torch.atan2(p["orientation"][:, 1], p["orientation"][:, 0]) % (2 * np.pi)  # 4 theta, as trained

    def binned(values: torch.Tensor, bins: int) -> np.ndarray:
        return (values.clamp(0, 1 - 1e-6) * bins).long().numpy()

    return {"shape": p["shape"].argmax(1).numpy(), "scale": binned(p["scale"], 6),
            "orientation": binned(angle / (2 * np.pi), DSPRITES_BINS["orientation"]),
            "posX": binned(p["posX"], DSPRITES_BINS["posX"]), "posY": binned(p["posY"], DSPRITES_BINS["posY"])}  # fmt: skip


@torch.inference_mode()
def _encode(vae, images, batch: int = 1000) -> torch.Tensor:
    device = next(iter(vae.parameters()), torch.zeros(())).device
    return torch.cat([vae.encode(images[s : s + batch].to(device))[0].float().cpu() for s in range(0, len(images), batch)])


def sfvq_run(run_dir, bits: int = 6, out=None, epochs_per_bitrate: int = 3, n_samples: int = 10_000, n_lines: int = 10,
             seed: int = 0, data=None, labels=None, augment_lines=(), augment_n: int = 16, device="cpu",
             progress: bool = False) -> dict:  # fmt: skip
    """Fit, analyse and draw (see the module docstring); returns ``summary.json``'s content."""
    from ..directions.sfvq import SFVQDirections, SpaceFillingVQ, line_effects, rank_lines
    from ..errors import LatentLensError
    from ..explain import sfvq_panoptic as pan
    from ..io import output_folder, write_json
    from ..viz.grids import image_grid
    from ..viz.html import pyplot, save_figure, save_png
    from ._runs import open_model
    from .discover import _generator

    run_dir, config, model = open_model(run_dir, out, device)
    out = output_folder(Path(out) if out is not None else Path(run_dir) / "sfvq")
    generator = _generator(model, config, "auto")
    z, factor_labels = _latents_and_labels(model, config, generator, n_samples, seed, data, labels)
    q = SpaceFillingVQ(bits, epochs_per_bitrate, random_state=seed).fit(z, show_progress=progress)
    q.save(out / "curve")
    index = q.transform(z).numpy()
    k = len(q.codebook_)
    with torch.inference_mode():
        for b, codebook in q.codebooks_.items():
            images = torch.cat([generator(codebook[s : s + 256]).float().cpu() for s in range(0, len(codebook), 256)])
            save_png(image_grid(images, min(len(codebook), 32), scale=2 if images.shape[-1] <= 64 else 1), out / f"corners_b{b}.png")
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(4.2, 3.6))
    im = ax.imshow(torch.cdist(q.codebook_, q.codebook_).numpy(), cmap="viridis")
    ax.set_xlabel("corner")
    ax.set_ylabel("corner")
    fig.colorbar(im, ax=ax, fraction=0.046)
    save_figure(fig, out / "distances.png")
    factors = {}
    for name, lab in factor_labels.items():
        hist, values = pan.index_histograms(index, lab, k - 1, bins=min(64, k - 1))
        js = pan.js_distance_matrix(hist)
        factors[name] = {"values": [str(v) for v in values], "mean_js": pan.mean_offdiagonal(js),
                         "runs": [pan.contiguous_runs(h) for h in hist], "js": js.tolist()}  # fmt: skip
        fig, ax = plt.subplots(figsize=(6.4, 0.5 + 0.45 * len(values)))
        ax.imshow(hist, aspect="auto", cmap="magma", extent=(0, k - 1, len(values) - 0.5, -0.5))
        ax.set_yticks(range(len(values)), [str(v) for v in values])
        ax.set_xlabel("curve index")
        ax.set_title(f"where the images of each {name} value lie on the curve")
        save_figure(fig, out / f"histograms_{name}.png")
    lines = q.line_directions()
    effects = line_effects(generator, q.codebook_)
    keep = rank_lines(lines, effects, min(n_lines, len(lines)))
    table = [{"line": j, "effect": float(effects[j]), "length": float((q.codebook_[j + 1] - q.codebook_[j]).norm())}
             for j in keep]  # fmt: skip
    _score_lines(model, config, generator, lines, keep, table, z, seed)
    finder = SFVQDirections(n_directions=min(n_lines, generator.latent_dim), bits=bits,
                            epochs_per_bitrate=epochs_per_bitrate, n_samples=n_samples, random_state=seed)  # fmt: skip
    finder.sfvq_, finder.lines_ = q, keep[: generator.latent_dim]
    from ..directions import Directions
    from ..directions.generators import model_hash

    seg = (q.codebook_[1:] - q.codebook_[:-1]).norm(dim=1)
    directions = Directions(basis=lines[finder.lines_], scales=seg[finder.lines_], scores=effects[finder.lines_],
                            score_name="line_effect", latent_space=getattr(generator, "latent_space", "z"),
                            method="sfvq", params=finder.get_params(), seed=seed, model_hash=model_hash(generator),
                            extra={"lines": finder.lines_})  # fmt: skip
    directions.save(output_folder(Path(run_dir) / "directions") / "sfvq")
    manifest = _augment(generator, q, augment_lines, augment_n, out) if augment_lines else None
    summary = {
        "bits": bits, "corners": k, "latents": int(len(z)), "latent_source": "labelled data" if factor_labels else "prior",
        "locality_ratio": q.locality_ratio(), "curve_mse": q.curve_mse(z), "vq_mse": pan.vq_mse(z, q.codebook_),
        "kmeans_mse": pan.kmeans_mse(z[:5000], k, seed), "history": q.history_, "factors": factors,
        "factor_js": {n: f["mean_js"] for n, f in factors.items()}, "lines": table, "augment": manifest,
        "files": sorted(p.name for p in out.glob("*.png")),
    }  # fmt: skip
    if not np.isfinite(summary["curve_mse"]):
        raise LatentLensError("the curve did not fit the latents (non-finite error)")
    write_json(out / "summary.json", summary)
    return summary


def _score_lines(model, config, generator, lines, keep, table, z, seed) -> None:
    """Main factor and purity (dSprites factor reader), identity error (VAEs), commutativity of the top two."""
    from ..directions.generators import looks_like_vae
    from ..explain import sfvq_panoptic as pan
    from ._runs import run_data

    basis = lines[keep]
    base = z[torch.randperm(len(z), generator=torch.Generator().manual_seed(seed))[:64]]
    if run_data(config) == "dsprites":
        from ..metrics.factor_alignment import alignment_summary, factor_effects, reference_changes
        from ..metrics.factor_predictor import load_or_train_factor_predictor

        predictor = load_or_train_factor_predictor()
        s = alignment_summary(factor_effects(generator, basis, predictor, reference=reference_changes(predictor),
                                             n_samples=48, random_state=seed))  # fmt: skip
        for row, main, purity in zip(table, s["main_factor"], s["purity_per_direction"]):
            row.update(main_factor=main, purity=float(purity), side_effect=float(1 - purity))
    if looks_like_vae(model) or callable(getattr(model, "encode", None)):
        from ..adapters import as_vae

        vae = as_vae(model, output_range="unit")
        strength = float(z.std(0).mean())
        for row, err in zip(table, pan.identity_error(vae, basis, base, strength)):
            row["identity_error"] = float(err)
        if len(basis) >= 2:
            table[0]["commutativity_error_with_next"] = pan.commutativity_error(vae, basis[0], basis[1], base, strength)


def _augment(generator, q, lines, n: int, out: Path) -> dict:
    """Images at ``c_j + t (c_{j+1} - c_j)``, ``t`` in [0, 1] (``n`` evenly spaced) on each chosen line."""
    from PIL import Image

    from ..io import atomic_write_text
    from ..viz.grids import to_uint8
    from ..viz.html import save_png

    rows = ["file,line,t"]
    for j in lines:
        points = q.line_points(int(j), torch.linspace(0, 1, n))
        with torch.inference_mode():
            images = generator(points).float().cpu()
        folder = out / "augment" / f"line_{int(j):03d}"
        folder.mkdir(parents=True, exist_ok=True)
        for i, (image, t) in enumerate(zip(images, torch.linspace(0, 1, n).tolist())):
            tile = to_uint8(image[None])[0]
            save_png(Image.fromarray(tile[..., 0] if tile.shape[-1] == 1 else tile), folder / f"{i:03d}.png")
            rows.append(f"line_{int(j):03d}/{i:03d}.png,{int(j)},{t:.4f}")
    atomic_write_text(out / "augment" / "manifest.csv", "\n".join(rows) + "\n")
    return {"lines": [int(j) for j in lines], "per_line": n, "manifest": "augment/manifest.csv"}
