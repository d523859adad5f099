"""Report section: other runs kept inside this folder (the demo's short training run, for example), with
what was trained, how it went, and a link to each one's own report."""

from __future__ import annotations

from pathlib import Path

from ...io import read_json, read_jsonl
from ..html import escape, table

ORDER = 80
TITLE = "Other runs in this folder"


def _runs(run_dir: Path) -> list[Path]:
    return sorted(p for p in run_dir.iterdir() if p.is_dir() and (p / "config.json").is_file()
                  and (p / "log.jsonl").is_file())  # fmt: skip


def render(run_dir: Path) -> str | None:
    runs = _runs(run_dir)
    if not runs:
        return None
    parts = []
    for child in runs:
        config = read_json(child / "config.json")
        summary = read_json(child / "train_summary.json") if (child / "train_summary.json").is_file() else {}
        records = [r for r in read_jsonl(child / "log.jsonl") if "loss" in r]
        objective = config.get("objective", {})
        hp = ", ".join(f"{k}={v}" for k, v in objective.get("hparams", {}).items())
        rows = [
            ["model", f"{config.get('kind')} ({objective.get('name', '-')} {hp})"],
            ["steps, wall time", f"{summary.get('steps', '-')}, {summary.get('seconds', 0):.0f} s"],
            ["final loss", f"{records[-1]['loss']:.4g}" if records else "-"],
        ]
        if summary.get("active_dims") is not None:
            rows.append(["active latents", f"{len(summary['active_dims'])} of {len(summary.get('kl_per_dim', []))}"])
        link = f"{child.name}/report.html"
        curve = child / "figures" / "training_curves.png"
        picture = (f"<figure><img src='{escape(child.name)}/figures/training_curves.png' alt='training curves' "
                   f"style='max-width:100%'><figcaption>Training curves of {escape(child.name)}.</figcaption></figure>"
                   if curve.is_file() else "")  # fmt: skip
        parts.append(f"<h3>{escape(child.name)}</h3>" + table(["", ""], rows) + picture
                     + (f"<p><a href='{escape(link)}'>Its full report</a></p>" if (child / "report.html").is_file() else ""))
    return "".join(parts)
