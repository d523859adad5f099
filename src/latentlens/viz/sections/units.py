"""Report section: interpretability of a layer's units vs directions (``latentlens units``)."""

from __future__ import annotations

from pathlib import Path

from ...io import read_json
from ..html import img, table

ORDER = 55
TITLE = "Units and directions of a layer"


def render(run_dir: Path) -> str | None:
    folder = Path(run_dir) / "units"
    if not (folder / "summary.json").is_file():
        return None
    s = read_json(folder / "summary.json")
    rows = [[name, v["mean"], s["directions_vs_units"].get(name, {}).get("p_value_greater", "-")]
            for name, v in s["ii"].items()]  # fmt: skip
    parts = [
        f"<p class='note'>Interpretability index (Klindt et al.): can a simulated observer tell a unit's 9 most "
        f"from its 9 least activating images by {s['metric']} similarity? 0.5 is chance, 1 perfect. Layer "
        f"<b>{s.get('layer', 'recorded units')}</b>, {s['n_units']} units, {s['n_images']} images; directions: "
        "as many k-means centroids (read out as projections, and as negative distances: kmeans-distance) and PCA, "
        "ICA and random directions in the activation space.</p>",
        table(["", "mean index", "p (greater than units, paired Wilcoxon)"], rows),
        f"<p class='meta'>Eigenspectrum power-law exponent alpha = {s['power_law_alpha']:.2f}.</p>",
    ]
    if (folder / "ii_histograms.png").is_file():
        parts.append(img(folder / "ii_histograms.png", "interpretability index histograms"))
    for name in ("units", "kmeans"):
        for tag in ("most", "least"):
            if (folder / f"{name}_{tag}.png").is_file():
                parts.append(f"<figure>{img(folder / f'{name}_{tag}.png', f'{name} {tag}')}<figcaption>The {tag} "
                             f"interpretable {name}: per row, its 8 most (left) and 8 least (right) activating "
                             "images.</figcaption></figure>")  # fmt: skip
    return "".join(parts)
