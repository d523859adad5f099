"""Report section: the space-filling curve through the latent space (``latentlens sfvq``)."""

from __future__ import annotations

from pathlib import Path

from ...io import read_json
from ..html import escape, img, table

ORDER = 45
TITLE = "Space-filling curve (SFVQ)"


def render(run_dir: Path) -> str | None:
    folder = Path(run_dir) / "sfvq"
    if not (folder / "summary.json").is_file():
        return None
    s = read_json(folder / "summary.json")
    parts = [
        "<p class='note'>A piece-wise linear curve through the latents (Vali &amp; Bäckström): nearby positions on "
        "the curve hold similar images, so the corner images read in order show what varies, coarse to fine "
        "across bitrates. Lines of the curve are edit directions, ranked by how much they change the image.</p>",
        table(["measure", "value"], [
            ["corners (bits)", f"{s['corners']} ({s['bits']})"], ["latents fitted", f"{s['latents']} ({s['latent_source']})"],
            ["locality (consecutive / random corner distance; 1 = no order)", s["locality_ratio"]],
            ["curve error per dimension", s["curve_mse"]], ["k-means error, same number of points", s["kmeans_mse"]],
            ["corners as a plain VQ", s["vq_mse"]],
        ]),  # fmt: skip
    ]
    for name in sorted(f for f in s.get("files", []) if f.startswith("corners_b")):
        parts.append(f"<figure>{img(folder / name, name)}<figcaption>Corner images in curve order, "
                     f"{escape(name[9:-4])} bits.</figcaption></figure>")  # fmt: skip
    if (folder / "distances.png").is_file():
        parts.append(f"<figure>{img(folder / 'distances.png', 'corner distances')}<figcaption>Distances between "
                     "corners: dark blocks on the diagonal are regions of the curve.</figcaption></figure>")
    factors = s.get("factors", {})
    if factors:
        rows = [[n, f["mean_js"], " ".join(map(str, f["runs"]))] for n, f in factors.items()]
        parts.append("<h3>Where each label lies on the curve</h3>" + table(
            ["factor", "mean Jensen-Shannon distance between its values (1 = apart)", "stretches per value"], rows))
        for name in factors:
            if (folder / f"histograms_{name}.png").is_file():
                parts.append(img(folder / f"histograms_{name}.png", f"index histograms of {name}"))
    if s.get("lines"):
        keys = [k for k in ("line", "effect", "main_factor", "purity", "identity_error") if k in s["lines"][0]]
        parts.append("<h3>Ranked lines</h3>" + table(keys, [[row.get(k, "-") for k in keys] for row in s["lines"]]))
        parts.append("<p class='meta'>identity error: mean pixel change after editing by +s, re-encoding and editing by "
                     "-s (0 = the edit undoes itself); purity: share of the factor change in the main factor.</p>")
    return "".join(parts)
