"""Report section: latent directions found by ``latentlens discover`` (SeFa, GANSpace, Voynov, baselines).

Reads ``RUN/directions/`` (or the run folder itself when it holds direction artifacts): the metrics table
(RCA, dSprites factors controlled, purity, post-hoc MIG/DCI; mean +- sd over seeds), then per method one
traversal sheet (a row per direction, shifts from -3 to +3 scales) with what each row changes.
"""

from __future__ import annotations

from pathlib import Path

from ...io import read_json
from ..html import escape, img, table

ORDER = 40
TITLE = "Latent directions"

_BASELINES = ("random", "coordinate")


def _folder(run_dir: Path) -> Path | None:
    """The folder ``latentlens discover`` wrote: it holds traversal sheets or direction artifacts (a
    ``metrics.json`` alone, e.g. an anomaly run's, is not one)."""
    for cand in (run_dir / "directions", run_dir):
        if any(cand.glob("*_sheet.png")) or any(_is_directions_sidecar(p) for p in cand.glob("*.json")):
            return cand
    return None


def _is_directions_sidecar(path: Path) -> bool:
    try:
        return read_json(path).get("kind") == "latentlens.directions"
    except Exception:  # any unreadable JSON is simply not a sidecar
        return False


def _fmt(entry: dict, key: str) -> str:
    stats = entry.get("summary", {}).get(key)
    if stats is None:
        return "-"
    if len(stats.get("values", [])) > 1:
        return f"{stats['mean']:.3f} ± {stats['sd']:.3f}"
    return f"{stats['mean']:.3f}"


def render(run_dir: Path) -> str | None:
    folder = _folder(Path(run_dir))
    if folder is None:
        return None
    metrics = read_json(folder / "metrics.json") if (folder / "metrics.json").is_file() else {}
    methods = metrics.get("methods", {})
    names = sorted(methods, key=lambda m: (m in _BASELINES, m))
    if not names:
        names = sorted(p.name[: -len("_sheet.png")] for p in folder.glob("*_sheet.png"))
    parts = [
        "<p class='note'>Each sheet row moves the latent along one direction (shifts −3…+3 in the direction's "
        "scale, centre column = the original sample). <b>RCA</b>: accuracy of a freshly trained reconstructor "
        "at telling the directions apart (chance = 1/K). On dSprites, a direction <b>controls</b> a factor when "
        "its largest predicted factor change is at least 70 % of all its changes (purity); random and "
        "coordinate directions are the baselines.</p>"
    ]
    if metrics.get("latent_space"):
        parts.append(f"<p class='meta'>Latent space: {escape(str(metrics['latent_space']))}; model "
                     f"{escape(str(metrics.get('model_hash', '?')))}.</p>")  # fmt: skip
    hspace = metrics.get("hspace")
    if hspace:
        parts.append(
            "<p class='note'>h-space of a diffusion model (Asyrp): the shift is added to the U-Net's bottleneck "
            f"while t ≥ {hspace.get('t_edit')}·T ({escape(str(hspace.get('mode')))} reverse process, "
            f"{hspace.get('steps')} DDIM steps from the same x_T in every row); columns span ±{hspace.get('strength')} "
            "standard deviations of h. <b>homogeneity</b>: mean cosine of one direction's image changes on different "
            "samples, <b>gain</b> over random h-directions; <b>linearity</b>: change at 2ε over change at ε (2 = linear).</p>"
        )  # fmt: skip
    if methods:
        keys = [k for k in ("rca", "factors_controlled", "purity", "mig", "dci", "homogeneity", "homogeneity_gain",
                            "linearity")
                if any(k in methods[m].get("summary", {}) for m in names)]  # fmt: skip
        header = ["method", "K", "seeds"] + [k.replace("_", " ") for k in keys]
        rows = [[m, methods[m].get("n_directions", "-"), len(methods[m].get("seeds", [])) or "-"]
                + [_fmt(methods[m], k) for k in keys] for m in names]  # fmt: skip
        parts.append(table(header, rows))
        curve = _linearity_curve_table(methods, names)
        if curve:
            parts.append(curve)
    blocks = []
    for m in names:
        sheet = folder / f"{m}_sheet.png"
        if not sheet.is_file():
            continue
        caption = f"<b>{escape(m)}</b>"
        entry = methods.get(m, {})
        if entry.get("score_name") and entry["score_name"] != "none":
            caption += f" — rows ordered by {escape(entry['score_name'].replace('_', ' '))}"
        legend = _legend(folder, m, entry)
        blocks.append(f"<figure>{img(sheet, f'{m} directions')}<figcaption>{caption}</figcaption>{legend}</figure>")
    if blocks:
        parts.append("<div class='row'>" + "".join(blocks) + "</div>")
    return "".join(parts)


def _linearity_curve_table(methods: dict, names: list) -> str:
    """Linearity at the scored shift and at smaller ones (mean over seeds): where an edit stops doubling."""
    curves = {m: [r["linearity_curve"] for r in methods[m].get("per_seed", []) if "linearity_curve" in r] for m in names}
    curves = {m: c for m, c in curves.items() if c}
    if not curves:
        return ""
    shifts = sorted({a for c in curves.values() for a in c[0]}, key=float)
    rows = [[m] + [f"{sum(r[a] for r in c) / len(c):.2f}" if all(a in r for r in c) else "-" for a in shifts]
            for m, c in curves.items()]  # fmt: skip
    return ("<p class='note'>Linearity at smaller shifts ε (change at 2ε over change at ε; 2 = linear, below 1.6 "
            "the edit saturates):</p>" + table(["method"] + [f"ε = {float(a):g}" for a in shifts], rows))


def _legend(folder: Path, method: str, entry: dict) -> str:
    """Per direction: its ordering score and, on dSprites, its main factor and purity."""
    sidecar = folder / f"{method}.json"
    if not sidecar.is_file():
        return ""
    try:
        from ...directions.base import Directions

        dirs = Directions.load(sidecar)
    except Exception:  # a damaged artifact must not hide the pictures
        return ""
    align = entry.get("alignment") or {}
    rows = []
    for k in range(len(dirs)):
        row = [k, f"{float(dirs.scores[k]):.3g}"]
        if align:
            row += [align["main_factor"][k], f"{align['purity_per_direction'][k]:.2f}",
                    f"{align['magnitude_per_direction'][k]:.2f}"]  # fmt: skip
        rows.append(row)
    header = ["row", "score"] + (["main factor", "purity", "change"] if align else [])
    return table(header, rows)
