"""Report section: disentanglement metrics (bars) and the latent-factor mutual-information heatmap."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...io import read_json
from ..html import figure, pyplot, table

ORDER = 30
TITLE = "Disentanglement metrics"

KEYS = ["beta_vae_score", "factor_vae_score", "mig", "dci_disentanglement", "dci_completeness",
        "dci_informativeness", "sap", "modularity", "explicitness"]  # fmt: skip
CHANCE = {"beta_vae_score": 0.2, "factor_vae_score": 0.2}


def render(run_dir: Path) -> str | None:
    path = run_dir / "metrics.json"
    if not path.exists():
        return None
    metrics = read_json(path)
    present = [k for k in KEYS if isinstance(metrics.get(k), (int, float))]
    if not present:
        return None
    recipe = metrics.get("recipe", {})
    parts = [_bars(metrics, present, run_dir)]
    counts = recipe.get("counts", {})
    rows = [[k, float(metrics[k]), _counts_for(k, counts)] for k in present]
    parts.append(table(["metric", "score", "sample counts"], rows))
    parts.append(
        f"<p class='note'>Preset <b>{recipe.get('preset', '?')}</b>, seed {recipe.get('seed', '?')}, "
        f"representation: encoder {metrics.get('representation', 'mean')}. Recipes follow disentanglement_lib "
        "(Locatello et al. 2019); only compare numbers computed with the same recipe and counts. Chance level "
        "is 0.2 for the BetaVAE and FactorVAE scores and about 0 for MIG, DCI and SAP; with 20 bins even a "
        "perfect code reaches only MIG ≈ 0.90 on dSprites.</p>"
    )
    if "mi_matrix" in metrics:
        parts.append(_heatmap(metrics["mi_matrix"], run_dir))
    return "".join(parts)


def _counts_for(key: str, counts: dict) -> str:
    metric = {"beta_vae_score": "beta_vae", "factor_vae_score": "factor_vae"}.get(key, key.split("_")[0])
    if metric == "explicitness":
        metric = "modularity"
    found = counts.get(metric, {})
    return ", ".join(f"{k}={v}" for k, v in found.items()) if isinstance(found, dict) else str(found)


def _bars(metrics: dict, present: list[str], run_dir: Path) -> str:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 2.8))
    values = [metrics[k] for k in present]
    ax.bar(range(len(present)), values, color="#2a6fb0")
    for i, key in enumerate(present):
        if key in CHANCE:
            ax.hlines(CHANCE[key], i - 0.4, i + 0.4, colors="#c0392b", linestyles="dashed")
        ax.text(i, values[i] + 0.02, f"{values[i]:.2f}", ha="center", fontsize=8)
    ax.set_xticks(range(len(present)), [k.replace("_", "\n") for k in present], fontsize=7)
    ax.set_ylim(0, 1.08)
    ax.set_ylabel("score")
    ax.grid(axis="y", alpha=0.3)
    return "<figure>" + figure(fig, "metric bars", save_to=run_dir / "figures" / "metrics.png") + (
        "<figcaption>Scores in [0, 1]; dashed red: chance level.</figcaption></figure>"
    )


def _heatmap(mi: dict, run_dir: Path) -> str:
    plt = pyplot()
    matrix = np.asarray(mi.get("normalized", mi.get("nats")), dtype=float)
    names = mi.get("factor_names") or [f"factor {k}" for k in range(matrix.shape[1])]
    fig, ax = plt.subplots(figsize=(1.2 + 0.9 * matrix.shape[1], 0.9 + 0.32 * matrix.shape[0]))
    image = ax.imshow(matrix, cmap="viridis", vmin=0, vmax=max(1e-9, matrix.max()), aspect="auto")
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
    ax.set_yticks(range(matrix.shape[0]), [f"z{j}" for j in range(matrix.shape[0])])
    for (j, k), value in np.ndenumerate(matrix):
        ax.text(k, j, f"{value:.2f}", ha="center", va="center", fontsize=7, color="white" if value < 0.5 * matrix.max() else "black")
    fig.colorbar(image, ax=ax, label="I(z_j; v_k) / H(v_k)")
    ax.set_title("latent-factor mutual information")
    return "<figure>" + figure(fig, "MI heatmap", save_to=run_dir / "figures" / "mi_heatmap.png") + (
        f"<figcaption>Mutual information of each code dimension (20 bins) with each factor, over "
        f"{mi.get('num_points', '?')} points, normalised by the factor's entropy. MIG is the mean over factors "
        "of the gap between a column's two largest entries.</figcaption></figure>"
    )
