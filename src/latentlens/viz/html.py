"""Small HTML builders for the self-contained report: inline PNGs, tables, matplotlib figures."""

from __future__ import annotations

import base64
import html
import io
import os
from pathlib import Path

import numpy as np
from PIL import Image

from ..io import atomic_write_bytes

escape = html.escape


def png_bytes(image) -> bytes:
    """PNG bytes of a PIL image, a uint8 array ``(H, W)``/``(H, W, 3)``, or a PNG file path."""
    if isinstance(image, (str, os.PathLike)):
        return Path(image).read_bytes()
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def save_png(image, path: str | os.PathLike) -> Path:
    return atomic_write_bytes(path, png_bytes(image))


def img(image, alt: str, width: int | None = None, save_to: str | os.PathLike | None = None) -> str:
    """An ``<img>`` with the PNG inlined as base64; optionally also saved as a file in the run folder."""
    data = png_bytes(image)
    if save_to is not None:
        atomic_write_bytes(save_to, data)
    size = f' width="{int(width)}"' if width else ""
    encoded = base64.b64encode(data).decode("ascii")
    return f'<img src="data:image/png;base64,{encoded}" alt="{escape(alt)}"{size} class="pixelated">'


def table(header: list[str], rows: list[list], classes: str = "") -> str:
    head = "".join(f"<th>{escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f'<table class="{classes}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    return escape(str(value))


def figure(fig, alt: str, save_to: str | os.PathLike | None = None) -> str:
    """Render a matplotlib figure to an inline PNG and close it."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return img(Image.open(io.BytesIO(buffer.getvalue())), alt, save_to=save_to)


def save_figure(fig, path: str | os.PathLike, dpi: int = 110) -> Path:
    """Write a matplotlib figure as a PNG file (atomically) and close it."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return atomic_write_bytes(path, buffer.getvalue())


def pyplot():
    """matplotlib's pyplot on the Agg backend, imported on first use."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt
