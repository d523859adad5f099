"""Homogeneity and linearity of edits."""

from __future__ import annotations

import torch
from torch import nn

from latentlens.directions import as_generator
from latentlens.metrics.edit_consistency import edit_consistency


class PartlyLinear(nn.Module):
    """Image = z_0 * P + sum_j relu(z_j) * Q_j: the first coordinate edits every sample alike and linearly; the
    others act only where z_j > 0, so their edits depend on the sample."""

    latent_dim = 6

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.register_buffer("p", torch.randn(64, generator=g))
        self.register_buffer("q", torch.randn(5, 64, generator=g))

    def sample_latents(self, n, generator=None):
        return torch.randn(n, 6, generator=generator)

    def forward(self, z):
        img = z[:, :1] * self.p + torch.relu(z[:, 1:]) @ self.q
        return img.view(len(z), 1, 8, 8)


def test_a_linear_edit_is_fully_homogeneous_and_doubles():
    out = edit_consistency(as_generator(PartlyLinear(), output_range="unit"), torch.eye(6)[:1], amplitude=1.0, n_samples=12)
    assert abs(out["homogeneity"] - 1) < 1e-5 and abs(out["linearity"] - 2) < 1e-5
    assert out["homogeneity_random"] < 0.9 and out["homogeneity_gain"] > 0.1


def test_a_sample_dependent_edit_is_less_homogeneous():
    out = edit_consistency(as_generator(PartlyLinear(), output_range="unit"), torch.eye(6)[1:3], amplitude=1.0, n_samples=16)
    assert out["homogeneity"] < 0.8
    assert len(out["homogeneity_per_direction"]) == 2 and len(out["linearity_per_direction"]) == 2


class Saturating(nn.Module):
    """Image = tanh(z_0) * P: an edit along z_0 is linear for small shifts and saturates for large ones."""

    latent_dim = 2

    def __init__(self):
        super().__init__()
        self.register_buffer("p", torch.randn(64, generator=torch.Generator().manual_seed(1)))

    def sample_latents(self, n, generator=None):
        return 0.1 * torch.randn(n, 2, generator=generator)

    def forward(self, z):
        return (torch.tanh(z[:, :1]) * self.p).view(len(z), 1, 8, 8)


def test_the_linearity_curve_shows_where_a_saturating_edit_stops_doubling():
    out = edit_consistency(as_generator(Saturating(), output_range="unit"), torch.eye(2)[:1], amplitude=4.0,
                           n_samples=8, curve_octaves=5)  # fmt: skip
    curve = out["linearity_curve"]
    assert sorted(curve) == [4.0 / 2**j for j in range(5, -1, -1)] and curve[4.0] == out["linearity"]
    assert out["linearity"] < 1.1 and curve[4.0 / 32] > 1.95
    values = [curve[a] for a in sorted(curve)]
    assert all(a >= b for a, b in zip(values, values[1:]))  # the larger the shift, the further from doubling


def test_without_octaves_the_curve_holds_only_the_amplitude():
    out = edit_consistency(as_generator(PartlyLinear(), output_range="unit"), torch.eye(6)[:1], amplitude=1.0, n_samples=4)
    assert list(out["linearity_curve"]) == [1.0]
