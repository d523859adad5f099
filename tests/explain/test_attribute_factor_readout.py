"""The attributes' factor read-out names the factor an edit changes in the picture."""

import numpy as np
import pytest
import torch

from latentlens.data.cells import generate_cells, render_cell
from latentlens.data.labels import labelled_images
from latentlens.explain.attributes import signed_displacements
from latentlens.workflows.attributes import _factor_effects


def test_an_edit_of_one_planted_factor_is_read_as_that_factor(tmp_path, one_thread):
    folder = generate_cells(tmp_path / "cells", n_per_condition=300, size=32, seed=0, response="graded")
    images = labelled_images(folder, None, 32, 1, max_classes=10)
    fixed = {"x": 0.0, "y": 0.0, "rotation": 0.8, "brightness": 0.8, "cell_size": 0.3, "noise": 0.0, "puncta": 0.0,
             "ring": 0.0}  # fmt: skip

    def decode(latents):  # latent = (nucleus_size, elongation): a generator whose coordinates are the factors
        cells = [render_cell({**fixed, "nucleus_size": float(a), "elongation": float(b)}, 32) for a, b in latents]
        return torch.from_numpy(np.stack(cells))

    z = torch.tensor([[0.4, 0.3]]).repeat(24, 1) + 0.02 * torch.randn(24, 2, generator=torch.Generator().manual_seed(0))
    picks = [{"attribute": 0, "sign": 1}, {"attribute": 1, "sign": 0}]
    effects, r2 = _factor_effects(decode, z, torch.eye(2), picks, signed_displacements(0.15, 24, 2), images, folder,
                                 seed=0)  # fmt: skip
    assert [e["main_factor"] for e in effects] == ["nucleus_size", "elongation"], effects
    assert effects[0]["changes"]["nucleus_size"] > 0 > effects[1]["changes"]["elongation"]  # the signs follow the edit
    assert r2["nucleus_size"] > 0.3 and r2["elongation"] > 0.5 and r2["x"] > 0.8, r2
    unreadable = {k for k, v in r2.items() if v < 0.25}  # the faint ring and puncta jitter
    assert unreadable and not unreadable & set(effects[0]["changes"]), r2


def test_a_readout_fitted_on_the_generator_pictures_reads_them_in_their_own_terms(tmp_path, one_thread):
    """A generator that draws every cell transposed (x and y swapped, as a decoder might distort): a regressor
    fitted on the real cells reads an edit of x as y; fitted on the generator's reconstructions, as x."""
    folder = generate_cells(tmp_path / "cells", n_per_condition=100, size=32, seed=1, response="graded")
    images = labelled_images(folder, None, 32, 1, max_classes=10)
    fixed = {"rotation": 0.8, "brightness": 0.8, "cell_size": 0.3, "noise": 0.0, "nucleus_size": 0.4,
             "elongation": 0.3, "puncta": 0.0, "ring": 0.0}  # fmt: skip

    def decode(latents):  # latent = (x, y), drawn transposed
        cells = [render_cell({**fixed, "x": float(a), "y": float(b)}, 32) for a, b in latents]
        return torch.from_numpy(np.stack(cells)).transpose(-1, -2)

    reconstructions = images.images.transpose(-1, -2).contiguous()
    z = 0.05 * torch.randn(24, 2, generator=torch.Generator().manual_seed(0))
    picks = [{"attribute": 0, "sign": 1}]
    delta = signed_displacements(0.1, 24, 2)
    on_images, _ = _factor_effects(decode, z, torch.eye(2), picks, delta, images, folder, seed=0)
    on_recon, r2 = _factor_effects(decode, z, torch.eye(2), picks, delta, images, folder, seed=0,
                                   fitted_on=reconstructions)  # fmt: skip
    assert on_images[0]["main_factor"] == "y" and on_recon[0]["main_factor"] == "x", (on_images, on_recon)
    assert on_recon[0]["changes"]["x"] > 0 and r2["x"] > 0.8, (on_recon, r2)
