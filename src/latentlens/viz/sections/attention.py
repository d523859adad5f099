"""Report section: where each latent dimension of the VAE looks (``latentlens explain``)."""

from __future__ import annotations

from pathlib import Path

from ...io import read_json
from ..html import escape, img, table

ORDER = 30
TITLE = "Where each latent dimension looks"


def render(run_dir: Path) -> str | None:
    folder = Path(run_dir) / "attention"
    summary_path = folder / "summary.json"
    if not summary_path.exists():
        return None
    s = read_json(summary_path)
    parts = [
        "<p>Gradient attention maps (Liu et al. 2020, Eqs. 1-3): for each latent dimension, the encoder "
        f"feature map of layer <code>{escape(str(s.get('layer')))}</code> weighted by the spatial mean of the "
        f"gradient of the dimension's {'encoder mean' if s.get('latent') == 'mean' else 'sampled value'}, "
        f"rectified, upsampled (variant <code>{escape(str(s.get('variant')))}</code>). "
        "Red = strong attention. All maps of a figure share one colour scale.</p>"
    ]
    if (folder / "overview.png").exists():
        parts.append(
            "<figure>" + img(folder / "overview.png", "attention overview")
            + "<figcaption>Each row: an image, its overall map (mean over dimensions), then one map per "
            "latent dimension.</figcaption></figure>"
        )  # fmt: skip
    if (folder / "mean_maps.png").exists():
        parts.append(
            "<figure>" + img(folder / "mean_maps.png", "mean attention per dimension")
            + "<figcaption>Each dimension's map averaged over the images.</figcaption></figure>"
        )  # fmt: skip
    labels, mass = s.get("labels", []), s.get("mean_attention", [])
    if labels and mass:
        total = sum(mass) or 1.0
        rows = [[lab, f"{m:.3g}", f"{100 * m / total:.0f}%"] for lab, m in sorted(zip(labels, mass), key=lambda t: -t[1])]
        parts.append(table(["dimension", "mean attention", "share"], rows))
    return "".join(parts)
