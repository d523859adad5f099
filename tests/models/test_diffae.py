"""The classifier-aware diffusion autoencoder."""

from __future__ import annotations

import pytest
import torch

from latentlens.errors import LatentLensError
from latentlens.models import build_model
from latentlens.train.diffae import class_weight_at, round_trip

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = {"image_size": 32, "patch_size": 2, "base_channels": 8, "channel_mult": [1, 2], "sem_dim": 8,
        "encoder_width": 8, "n_classes": 2, "num_timesteps": 100}  # fmt: skip


def test_semantic_code_reads_the_classifier_and_round_trips_have_the_image_shape():
    torch.manual_seed(0)
    model = build_model("diffae", TINY).eval()
    x = torch.rand(3, 1, 32, 32)
    probs = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    with pytest.raises(LatentLensError, match="class_probs"):
        model.semantic(x)
    z = model.semantic(x, probs)
    assert z.shape == (3, 8) and not torch.allclose(z, model.semantic(x, probs.flip(1)))
    with torch.no_grad():
        x_T = model.stochastic_encode(x, z, steps=3)
        again = model.render(z, x_T, steps=3)
    assert x_T.shape == x.shape and again.shape == x.shape and 0 <= float(again.min()) <= float(again.max()) <= 1
    plain = build_model("diffae", {**TINY, "n_classes": 0})
    assert plain.semantic(x).shape == (3, 8)


def test_the_round_trip_gradient_reaches_the_semantic_encoder():
    torch.manual_seed(0)
    model = build_model("diffae", TINY)
    for p in model.ddpm.unet.out.parameters():
        torch.nn.init.normal_(p, std=0.05)
    x = torch.rand(2, 1, 32, 32)
    z = model.semantic(x, torch.full((2, 2), 0.5))
    round_trip(model, x, z, steps=3, grad=True).mean().backward()
    assert float(model.encoder_out.weight.grad.abs().sum()) > 0 and float(model.fuse.weight.grad.abs().sum()) > 0


def test_the_classifier_weight_is_annealed_from_zero():
    assert class_weight_at(0, 0.3, 10, 20) == 0.0 and class_weight_at(20, 0.3, 10, 20) == pytest.approx(0.15)
    assert class_weight_at(100, 0.3, 10, 20) == pytest.approx(0.3)
