"""One self-contained HTML report per run folder: every section module that has something to show.

Section modules live in :mod:`latentlens.viz.sections`; each defines ``ORDER``, ``TITLE`` and
``render(run_dir) -> str | None``. A section that fails is shown as a short error box, so one broken
part never hides the rest of the report.
"""

from __future__ import annotations

import html
import importlib
import logging
import pkgutil
import time
from pathlib import Path

from .. import __version__
from ..errors import LatentLensError
from ..io import atomic_write_text
from . import sections

log = logging.getLogger(__name__)

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0 auto;max-width:1100px;padding:1.5rem;
color:#1d232a;line-height:1.45}
h1{margin-bottom:.2rem} h2{border-bottom:2px solid #e4e7eb;padding-bottom:.3rem;margin-top:2.2rem}
nav a{margin-right:1rem} .meta{color:#5b6470;font-size:.9rem}
table{border-collapse:collapse;margin:.6rem 0;font-size:.92rem} th,td{border:1px solid #d7dce1;padding:.25rem .55rem;
text-align:right} th{background:#f3f5f7} td:first-child,th:first-child{text-align:left}
img.pixelated{image-rendering:pixelated;max-width:100%;height:auto} figure{margin:.8rem 0}
figcaption{color:#5b6470;font-size:.9rem} .error{background:#fff1f0;border:1px solid #f3b3ad;padding:.6rem}
.note{background:#f6f8fa;border-left:4px solid #8aa4c2;padding:.5rem .8rem;margin:.6rem 0}
.row{display:flex;flex-wrap:wrap;gap:1.2rem;align-items:flex-start}
"""


def _section_modules():
    found = []
    for info in pkgutil.iter_modules(sections.__path__):
        module = importlib.import_module(f"{sections.__name__}.{info.name}")
        if hasattr(module, "render"):
            found.append(module)
    return sorted(found, key=lambda m: (getattr(m, "ORDER", 100), m.__name__))


def build_report(run_dir: str | Path) -> Path:
    """Write ``run_dir/report.html`` and return its path."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise LatentLensError(f"run folder not found: {run_dir}")
    if (run_dir / "model.safetensors").exists():
        from ..train.checkpoint import load_model

        load_model(run_dir)  # a corrupt or mismatched checkpoint stops here, before any section is drawn
    parts, nav = [], []
    for module in _section_modules():
        anchor = module.__name__.rsplit(".", 1)[-1]
        try:
            body = module.render(run_dir)
        except LatentLensError as exc:
            body = f'<p class="error">This section could not be drawn: {html.escape(str(exc))}</p>'
        except Exception as exc:  # a broken section must not take the whole report down
            log.warning("report section %s failed: %r", anchor, exc)
            body = f'<p class="error">This section failed: {html.escape(type(exc).__name__)}: {html.escape(str(exc))}</p>'
        if body is None:
            continue
        nav.append(f'<a href="#{anchor}">{html.escape(module.TITLE)}</a>')
        parts.append(f'<section id="{anchor}"><h2>{html.escape(module.TITLE)}</h2>{body}</section>')
    if not parts:
        raise LatentLensError(f"{run_dir} holds nothing to report (no config.json, metrics or pictures)")
    stamp = time.strftime("%Y-%m-%d %H:%M")
    page = (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>latentlens: {html.escape(run_dir.name)}"
        f"</title><meta name='viewport' content='width=device-width,initial-scale=1'><style>{STYLE}</style></head><body>"
        f"<h1>latentlens report: {html.escape(run_dir.name)}</h1>"
        f"<p class='meta'>{html.escape(str(run_dir.resolve()))} · latentlens {__version__} · {stamp}</p>"
        f"<nav>{''.join(nav)}</nav>{''.join(parts)}</body></html>"
    )
    path = run_dir / "report.html"
    atomic_write_text(path, page)
    return path
