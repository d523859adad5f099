"""Report section: anomaly localisation scores and the best / worst localised defects
(``latentlens anomaly test``)."""

from __future__ import annotations

from pathlib import Path

from ...io import read_json
from ..html import escape, img, table

ORDER = 40
TITLE = "Anomaly localisation"

_DESCRIPTIONS = {
    "paper": "Liu et al. Eq. 4 attention (mean of the normal-difference distribution)",
    "paper-sampled": "Eq. 4 attention averaged over sampled differences",
    "official": "authors' released code: Grad-CAM of sum(mu), batch-RMS, |.|",
    "nd-weighted": "Grad-CAM of the normal-difference log-density (ours)",
    "recon-l2": "squared reconstruction error",
    "recon-ssim": "1 - SSIM of the reconstruction",
}


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.3f}"


def render(run_dir: Path) -> str | None:
    run_dir = Path(run_dir)
    metrics_path = run_dir / "metrics.json"
    if not (run_dir / "anomaly.json").exists() or not metrics_path.exists():
        return None
    metrics = read_json(metrics_path)
    methods = metrics.get("methods")
    if not methods:
        return None
    info = metrics.get("anomaly", {})
    default = metrics.get("default_method")
    rows = []
    for name, m in sorted(methods.items(), key=lambda kv: -(kv[1].get("pixel_auroc") or 0)):
        label = f"{name} (default)" if name == default else name
        rows.append([label, _DESCRIPTIONS.get(name, ""), _fmt(m.get("pixel_auroc")), _fmt(m.get("aupro")),
                     _fmt(m.get("image_auroc")), _fmt(m.get("f1"))])  # fmt: skip
    parts = [
        f"<p>Category <code>{escape(str(info.get('category')))}</code>: {info.get('n_test', '?')} test images "
        f"({info.get('n_defective', '?')} defective). The VAE saw normal images only. Pixel AUROC is pooled "
        "over all test pixels; AUPRO integrates the per-region overlap up to a false-positive rate of 0.3; "
        f"F1 uses a threshold set on {info.get('n_held_out_normal', '?')} held-out normal images "
        f"(pixel false-positive rate {info.get('fpr', '?')}), never on test data.</p>",
        table(["method", "map", "pixel AUROC", "AUPRO", "image AUROC", "F1"], rows),
    ]
    overlays = info.get("overlays", {})
    for which, caption in (("best", "best localised"), ("worst", "worst localised")):
        path = run_dir / overlays.get(which, "")
        if overlays.get(which) and path.exists():
            parts.append(
                f"<figure>{img(path, f'{which} cases')}<figcaption>The {caption} defective test images "
                f"({escape(str(overlays.get('method')))} map): image with the true defect outlined, the map "
                "on a shared colour scale, and the map above the threshold.</figcaption></figure>"
            )
    return "".join(parts)
