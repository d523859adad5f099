"""Report section: the attributes that move a classifier (``latentlens attributes --out RUN/attributes``)."""

from __future__ import annotations

from pathlib import Path

from ...io import read_json
from ..html import escape, figure, img, pyplot, table

ORDER = 60
TITLE = "What changes the classifier"


def render(run_dir: Path) -> str | None:
    folder = Path(run_dir) / "attributes"
    if not (folder / "attributes.json").is_file():
        return None
    r = read_json(folder / "attributes.json")
    effects = {(e["attribute"], e["sign"]): e for e in r.get("factor_effects") or []}
    rows = []
    for rank, p in enumerate(r["stylex"]):
        e = effects.get((p["attribute"], p["sign"]))
        rows.append([rank + 1, f"{p['label']} {'+' if p['sign'] else '-'}", p["score"],
                     r["sufficiency"][rank] if rank < len(r["sufficiency"]) else "-",
                     r["sufficiency_random"][rank] if rank < len(r["sufficiency_random"]) else "-",
                     _top_changes(e) if e else "-"])  # fmt: skip
    parts = [
        f"<p class='note'>Attributes (edits of the generator's latent space, source <b>{escape(r['source'])}</b>) ranked "
        f"by how much they push images of the other classes towards <b>{escape(r['target'])}</b> (StylEx's "
        "AttFind on logit changes). Sufficiency: the share of those images classified as the target once the top "
        "k attributes are applied together, beside k random directions.</p>",
        table(["rank", "attribute", "mean logit push", "sufficiency (top k)", "random k",
               "factors it changes most (standard deviations of the edited images)"], rows),  # fmt: skip
        _sufficiency_curve(r, folder),
        "<p class='meta'>DiffEx's ranking (probability changes, pool removal): "
        + ", ".join(f"{escape(p['label'])}{'+' if p['sign'] else '-'}" for p in r["diffex"]) + "</p>",
    ]
    if r.get("factor_readout_r2"):
        on_recon = r.get("factor_readout") == "reconstructions"
        fitted = "the generator's reconstructions of the labelled images" if on_recon else "the labelled images"
        parts.append("<p class='meta'>Factor changes are read off the edited pictures by a regressor fitted on "
                     f"{fitted}; its held-out R<sup>2</sup>: " + ", ".join(
                         f"{escape(k)} {v:.2f}" for k, v in r["factor_readout_r2"].items()) + "</p>")  # fmt: skip
    check = r.get("generator_check")
    if check:
        steps = check.get("agreement_ddim_steps")
        parts.append("<p class='meta'>The diffusion autoencoder's own check (at the end of its training, on held-out "
                     "images, with the classifier it was trained with): round trips"
                     + (f" ({steps} DDIM steps)" if steps else "")
                     + f" keep the classifier's decision for {check['class_agreement']:.0%}; "
                     "decoded from fresh noise, an image's own z_sem keeps its class for "
                     f"{check['semantic_agreement']:.0%}, another image's for {check['semantic_agreement_other']:.0%}"
                     " - when the two are close, z_sem (what these attributes edit) holds little of what the "
                     "classifier reads.</p>")  # fmt: skip
    for rank, name in enumerate(r.get("files", [])):
        if (folder / name).is_file():
            parts.append(f"<figure>{img(folder / name, name)}<figcaption>Attribute {rank + 1}: the images it moves "
                         "most, edited at growing strength (left: unchanged); above each image, the classifier's "
                         f"probability of {escape(r['target'])}.</figcaption></figure>")  # fmt: skip
    return "".join(parts)


def _top_changes(effect: dict, n: int = 2) -> str:
    return ", ".join(f"{escape(k)} {v:+.2f}" for k, v in list(effect["changes"].items())[:n])


def _sufficiency_curve(r: dict, folder: Path) -> str:
    """Share of the other classes' images classified as the target once the top-k attributes are applied,
    beside k random directions, k = 1..M."""
    if not r.get("sufficiency"):
        return ""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(4.2, 2.6))
    ks = range(1, len(r["sufficiency"]) + 1)
    ax.plot(ks, r["sufficiency"], "o-", color="#2a6fb0", label="top-k attributes")
    ax.plot(ks, r["sufficiency_random"], "s--", color="#999999", label="k random directions")
    ax.set(xlabel="k", ylabel=f"classified as {r['target']}", ylim=(-0.02, 1.02), xticks=list(ks))
    ax.legend(frameon=False, fontsize=8)
    return "<figure>" + figure(fig, "sufficiency curve", save_to=folder / "sufficiency.png") + (
        "<figcaption>Sufficiency curve.</figcaption></figure>")
