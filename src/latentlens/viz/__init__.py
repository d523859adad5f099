"""Pictures and the report: public functions that workflows and users call alike.

- :func:`image_grid`, :func:`direction_sheet`, :func:`direction_grid`: images, traversals of directions;
- :func:`attention_figures`: VAE attention overviews;
- :func:`build_report`: the HTML report of any folder the workflows wrote (each section only when its data
  is there).
"""

from .grids import direction_grid, direction_sheet, image_grid
from .overlays import attention_figures
from .report import build_report

__all__ = ["attention_figures", "build_report", "direction_grid", "direction_sheet", "image_grid"]
