"""Edit images with h-space directions of a diffusion model (``latentlens edit``).

Sampled images start from seeded noise; real images are first inverted by DDIM (eta = 0) to their x_T. Each
chosen direction ``d_k`` (a Directions artifact found in h-space by ``latentlens discover --space h``) is
applied as the global shift ``dh = a * s_h * d_k`` for ``a`` in ``[-strength, strength]``, where ``s_h`` is
h's standard deviation measured by :class:`~latentlens.directions.hspace_generator.HSpaceGenerator` with the
calibration of discovery (so strengths mean the same in both commands). Asyrp's edit interval and mode
come from the artifact unless given.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch

log = logging.getLogger(__name__)

COLUMNS = (-1.0, -0.5, 0.0, 0.5, 1.0)  # fractions of the strength in each sheet


def edit(run_dir, directions, ks=None, strength: float = 4.0, images: str = "samples", n: int = 8, out=None,
         steps: int | None = None, t_edit: float | None = None, mode: str | None = None, seed: int = 0,
         device="cpu", show_progress: bool = False) -> dict:  # fmt: skip
    """Edit ``n`` images (``"samples"`` or a folder of images) along directions ``ks`` (default: all) of the
    ``directions`` artifact; writes a sheet per direction (rows: images; columns: shift -s .. s) and the
    edited images at ``+s``; returns what it wrote."""
    from ..data.folders import load_image_folder
    from ..directions import Directions
    from ..directions.hspace_generator import HSpaceGenerator
    from ..errors import LatentLensError
    from ..io import output_folder, write_json
    from ..viz.grids import image_grid
    from ..viz.html import save_png
    from ._runs import diffusion_options, open_model

    run_dir, config, model = open_model(run_dir, out, device, None)
    options = diffusion_options(config, model)
    dirs = directions if isinstance(directions, Directions) else Directions.load(directions)
    found = dict(dirs.extra.get("hspace", {}))
    steps = int(steps or found.get("steps", 20))
    t_edit = float(found.get("t_edit", 0.2) if t_edit is None else t_edit)
    mode = mode or found.get("mode", "asyrp")
    generator = HSpaceGenerator(model, steps=steps, t_edit=t_edit, mode=mode, **options)
    if dirs.latent_dim != generator.latent_dim:
        raise LatentLensError(f"the directions live in a {dirs.latent_dim}-d space, this model's h-space has "
                              f"{generator.latent_dim} values (find them with discover --space h on this run)")  # fmt: skip
    ks = list(range(len(dirs))) if ks is None else list(ks)
    bad = [k for k in ks if not 0 <= k < len(dirs)]
    if bad:
        raise LatentLensError(f"direction {bad[0]} does not exist (the artifact holds {len(dirs)}: 0..{len(dirs) - 1})")
    if not strength > 0:
        raise LatentLensError(f"--strength must be positive, got {strength}")
    shape = generator.diffusion.image_shape
    if images == "samples":
        x_T = torch.randn(n, *shape, generator=torch.Generator().manual_seed(seed))
        source = "samples"
    else:
        real = load_image_folder(images, shape[-1], shape[0])[:n].float() / 255
        if len(real) == 0:
            raise LatentLensError(f"no images in {images}")
        from ..directions.hspace import invert_images

        x_T = invert_images(generator.diffusion, real, steps=steps).float().cpu()
        source = str(images)
    out = output_folder(Path(out) if out is not None else Path(run_dir) / "edits")
    written = []
    basis = dirs.basis / dirs.basis.norm(dim=1, keepdim=True)
    for k in ks:
        shifts = [a * strength for a in COLUMNS]
        columns = []
        for a in shifts:
            delta = (a * generator.h_scale * basis[k]).view(1, *generator.h_shape).expand(len(x_T), *generator.h_shape)
            columns.append(generator.render(x_T, delta if a != 0 else None).cpu())
        grid = torch.stack(columns, 1).flatten(0, 1)  # rows: images; columns: shifts
        sheet = save_png(image_grid(grid, nrow=len(shifts), scale=2), out / f"direction_{k:02d}.png")
        folder = out / f"direction_{k:02d}"
        folder.mkdir(exist_ok=True)
        for i, image in enumerate(columns[-1]):
            save_png(image_grid(image[None], nrow=1, pad=0), folder / f"image_{i:03d}.png")
        written.append({"direction": k, "sheet": sheet.name, "images": folder.name})
        log.info("edit: direction %d -> %s", k, sheet)
    summary = {"run": str(run_dir), "directions": str(directions) if not isinstance(directions, Directions) else dirs.method,
               "source": source, "n_images": len(x_T), "strength": strength, "columns": [a * strength for a in COLUMNS],
               "steps": steps, "t_edit": t_edit, "mode": mode, "written": written}  # fmt: skip
    write_json(out / "edit.json", summary)
    return summary
