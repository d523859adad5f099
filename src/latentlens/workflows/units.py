"""``latentlens units``: are a layer's units interpretable, and are directions in its activation space more so?

For a layer of a run's model (its encoder for a VAE), a user's module, or a user's activation matrix with
its images: the interpretability index (Klindt et al.) of every unit and of k-means, PCA, ICA and random
directions (as many as units), the paired Wilcoxon test of directions vs units, the activations'
eigenspectrum and power-law exponent, and the top/bottom-activating images of the most and least
interpretable units and directions. Writes ``OUT/units/summary.json`` and pictures; the report shows them.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

log = logging.getLogger(__name__)

N_SHOWN = 3  # most and least interpretable units / directions drawn


def load_unit_images(spec: str, n: int, seed: int, image_size: int = 64, channels: int | None = 1) -> torch.Tensor:
    """``n`` images in [0, 1]: dSprites samples, or a seeded sample of a folder."""
    from .explain import load_images

    return load_images(spec, n, seed, image_size, channels)


def units_run(run_dir=None, layer=None, images="dsprites", out=None, n_images: int = 2000, metric: str = "pixel",
              activations_file=None, seed: int = 0, device="cpu") -> dict:  # fmt: skip
    """Score the units of ``layer`` and the directions of its activation space (module docstring)."""
    from scipy.stats import wilcoxon

    from ..errors import LatentLensError
    from ..explain.activations import layer_activations, load_activation_matrix
    from ..explain.interpretability import DIRECTION_METHODS, interpretability_index, power_law_exponent
    from ..io import output_folder, write_json

    if activations_file is not None:
        acts = load_activation_matrix(activations_file)
        x = load_unit_images(images, len(acts), seed, channels=None)
        if len(x) != len(acts):
            raise LatentLensError(f"{len(acts)} rows of activations but {len(x)} images")
        out_dir = Path(out or "units-out") / "units"
        source = {"activations": str(activations_file)}
    else:
        from ._runs import open_model

        run_dir, config, model = open_model(run_dir, out, device)
        forward = getattr(model, "encode", None)
        cfg = getattr(model, "config", None)
        x = load_unit_images(images, n_images, seed, getattr(cfg, "image_size", 64), getattr(cfg, "in_channels", None))
        if layer is None:
            from ..explain.vae_attention import default_layer

            layer = default_layer(model)
        acts = layer_activations(model, layer, x, forward=forward)
        out_dir = (Path(out) if out else Path(run_dir)) / "units"
        source = {"run": str(run_dir), "layer": layer}
    output_folder(out_dir)
    units = interpretability_index(acts, x, metric, random_state=seed)["ii"]
    results = {"units": units}
    tops = {"units": acts}
    for name, fn in DIRECTION_METHODS.items():
        kwargs = {} if name == "pca" else {"random_state": seed}
        _, new = fn(acts, **kwargs)
        results[name] = interpretability_index(new, x, metric, random_state=seed)["ii"]
        tops[name] = new
    tests = {}
    for name in DIRECTION_METHODS:
        k = min(len(units), len(results[name]))
        diff = np.sort(results[name])[::-1][:k] - np.sort(units)[::-1][:k]
        try:
            p = float(wilcoxon(results[name][:k], units[:k], alternative="greater").pvalue)
        except ValueError:  # all differences zero
            p = 1.0
        tests[name] = {"mean_difference": float(np.mean(results[name]) - np.mean(units)), "p_value_greater": p,
                       "sorted_difference_mean": float(diff.mean())}  # fmt: skip
    _pictures(out_dir, x, tops, results)
    spectrum = power_law_exponent(acts)
    summary = {
        **source, "images": images, "n_images": int(len(x)), "n_units": int(acts.shape[1]), "metric": metric,
        "ii": {name: {"mean": float(np.mean(v)), "values": v.tolist()} for name, v in results.items()},
        "directions_vs_units": tests, "power_law_alpha": spectrum["alpha"],
        "eigenvalues": spectrum["eigenvalues"][:64], "files": sorted(p.name for p in out_dir.glob("*.png")),
    }  # fmt: skip
    write_json(out_dir / "summary.json", summary)
    return summary


def _pictures(out_dir: Path, x: torch.Tensor, activations: dict, scores: dict) -> None:
    """Top and bottom images of the most and least interpretable units and k-means directions; II histograms."""
    from ..viz.grids import image_grid
    from ..viz.html import pyplot, save_figure, save_png

    for name in ("units", "kmeans"):
        a, ii = np.asarray(activations[name]), scores[name]
        order = np.argsort(-ii)
        for tag, picks in (("most", order[:N_SHOWN]), ("least", order[::-1][:N_SHOWN])):
            rows = []
            for u in picks:
                ranked = np.argsort(-a[:, u])
                rows.append(torch.cat([x[torch.as_tensor(ranked[:8].copy())], x[torch.as_tensor(ranked[::-1][:8].copy())]]))
            save_png(image_grid(torch.cat(rows), 16, scale=2 if x.shape[-1] <= 64 else 1), out_dir / f"{name}_{tag}.png")
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.2, 3.0))
    for name, colour in (("units", "#8a96a3"), ("kmeans", "#2a6fb0"), ("random", "#d99a3e")):
        ax.hist(scores[name], bins=np.linspace(0.3, 1, 29), alpha=0.6, label=name, color=colour)
    ax.axvline(0.5, color="#444", lw=0.8, ls="--")
    ax.set_xlabel("interpretability index")
    ax.legend()
    save_figure(fig, out_dir / "ii_histograms.png")
