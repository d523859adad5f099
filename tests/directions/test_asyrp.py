"""Asyrp's training of an h-space edit from an objective on the predicted x_0."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from latentlens.directions.asyrp import train_asyrp_edit
from latentlens.directions.hspace import PerStepShift, edit_images
from latentlens.errors import LatentLensError
from latentlens.models import build_model

pytestmark = pytest.mark.usefixtures("one_thread")


def tiny_ddpm():
    torch.manual_seed(0)
    model = build_model("ddpm", {"image_size": 16, "patch_size": 1, "base_channels": 8, "channel_mult": [1, 2],
                                 "num_timesteps": 100}).eval()  # fmt: skip
    for p in model.unet.out.parameters():
        nn.init.normal_(p, std=0.05)
    return model


def brighter_left(edited, source):
    return -edited[..., :8].mean()


@pytest.mark.parametrize("kind", ["global", "per-step", "implicit"])
def test_a_learned_edit_does_what_its_objective_asks_on_new_noise(kind):
    model = tiny_ddpm()
    model.unet.out.requires_grad_(False)  # a user's own choice, kept as it was
    edit, history = train_asyrp_edit(model, brighter_left, kind=kind, n_images=8, batch_size=4, epochs=3, steps=6,
                                     t_edit=0.3, lr=0.1, rec_weight=0.1)  # fmt: skip
    assert len(history) == 3 and history[-1]["loss"] < history[0]["loss"]
    assert [p.requires_grad for p in model.parameters()] == [
        not name.startswith("unet.out.") for name, _ in model.named_parameters()
    ]  # the model's own gradient flags are restored
    held_out = torch.randn(6, 1, 16, 16, generator=torch.Generator().manual_seed(99))
    plain = edit_images(model, held_out, None, steps=6)
    edited = edit_images(model, held_out, edit, steps=6, t_edit=0.3)
    left = float((edited - plain)[..., :8].mean())
    right = float((edited - plain)[..., 8:].mean())
    assert left > 0.01 and left > right
    if kind == "per-step":
        assert isinstance(edit, PerStepShift) and float(edit.deltas[-1].abs().sum()) == 0  # outside the interval


def test_unknown_kind_is_refused():
    with pytest.raises(LatentLensError):
        train_asyrp_edit(tiny_ddpm(), brighter_left, kind="clip")
