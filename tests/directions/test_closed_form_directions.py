"""SeFa and GANSpace against hand computations and known answers."""

from __future__ import annotations

import numpy as np
import torch
from dir_tiny_models import TinyGenerator
from torch import nn

from latentlens.directions import GANSpace, SeFa, as_generator
from latentlens.directions.sefa import sefa_directions


def _abs_cos(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    a = a.double() / a.double().norm(dim=1, keepdim=True)
    b = b.double() / b.double().norm(dim=1, keepdim=True)
    return (a * b).sum(1).abs()


def test_sefa_matches_hand_computed_eigendecomposition():
    gen = TinyGenerator(latent_dim=6, seed=3)
    a = gen.first.weight.detach().double().numpy()
    for normalize in (False, True):
        m = a / np.linalg.norm(a, axis=1, keepdims=True) if normalize else a
        vals, vecs = np.linalg.eigh(m.T @ m)
        order = np.argsort(vals)[::-1]
        finder = SeFa(n_directions=4, normalize=normalize).fit(gen)
        d = finder.directions_
        np.testing.assert_allclose(d.scores.numpy(), vals[order][:4], rtol=1e-5)
        expected = torch.from_numpy(vecs[:, order[:4]].T.copy())
        torch.testing.assert_close(_abs_cos(d.basis, expected), torch.ones(4, dtype=torch.float64), atol=1e-5, rtol=0)
        # descending order and sign convention (largest-magnitude entry positive)
        assert torch.all(d.scores[:-1] >= d.scores[1:])
        rows = d.basis
        assert torch.all(rows.gather(1, rows.abs().argmax(1, keepdim=True)) > 0)


def test_sefa_row_normalisation_changes_the_answer():
    w = torch.tensor([[10.0, 0.0], [0.0, 1.0], [0.0, 1.0], [0.0, 1.0]])
    plain, _ = sefa_directions(w, 1, normalize=False)
    normed, _ = sefa_directions(w, 1, normalize=True)
    torch.testing.assert_close(plain[0].abs(), torch.tensor([1.0, 0.0], dtype=torch.float64))
    torch.testing.assert_close(normed[0].abs(), torch.tensor([0.0, 1.0], dtype=torch.float64))


class TwoCoordinateGenerator(nn.Module):
    """First layer reads only z0 and z1; the other four latent coordinates do nothing."""

    latent_dim = 6

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(1)
        self.first = nn.Linear(6, 32)
        with torch.no_grad():
            self.first.weight.copy_(torch.randn(32, 6, generator=g))
            self.first.weight[:, 2:] = 0
        self.out = nn.Linear(32, 64)

    def forward(self, z):
        return torch.sigmoid(self.out(torch.tanh(self.first(z)))).view(-1, 1, 8, 8)


def test_sefa_top_directions_span_the_read_coordinates():
    d = SeFa(n_directions=2).fit(TwoCoordinateGenerator()).directions_
    assert d.basis[:, 2:].abs().max() < 1e-6
    # the two directions span exactly {e0, e1}
    proj = d.basis[:, :2].double()
    torch.testing.assert_close(proj @ proj.T, torch.eye(2, dtype=torch.float64), atol=1e-6, rtol=0)
    assert d.scores[1] > 1e-3
    rest = SeFa().fit(TwoCoordinateGenerator()).directions_.scores[2:]
    assert rest.abs().max() < 1e-6


class CorrelatedLatents(nn.Module):
    """Latents with covariance R diag(9, 4, 1, 0.25) R^T; the image ignores them (only sampling matters)."""

    latent_dim = 4

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(5)
        q, _ = torch.linalg.qr(torch.randn(4, 4, generator=g, dtype=torch.float64))
        self.axes = q.T  # rows = principal axes
        self.stds = torch.tensor([3.0, 2.0, 1.0, 0.5], dtype=torch.float64)
        self.lin = nn.Linear(4, 64)

    def sample_latents(self, n, generator=None):
        white = torch.randn(n, 4, generator=generator, dtype=torch.float64)
        return ((white * self.stds) @ self.axes).float()

    def forward(self, z):
        return torch.sigmoid(self.lin(z)).view(-1, 1, 8, 8)


def test_ganspace_recovers_known_principal_axes():
    model = CorrelatedLatents()
    gen = as_generator(model)  # the adapter must draw from the module's own (correlated) prior
    g = torch.Generator().manual_seed(0)
    torch.testing.assert_close(gen.sample_latents(5, g), model.sample_latents(5, torch.Generator().manual_seed(0)))
    d = GANSpace(layer="latent", n_samples=20_000, random_state=0).fit(gen).directions_
    torch.testing.assert_close(d.gram(), torch.eye(len(d), dtype=torch.float64), atol=1e-6, rtol=0)
    cos = _abs_cos(d.basis, model.axes.float())
    assert torch.all(cos > 0.995), cos
    torch.testing.assert_close(d.scales.double(), model.stds, rtol=0.03, atol=0)
    ratio = model.stds**2 / (model.stds**2).sum()
    torch.testing.assert_close(d.scores.double(), ratio, rtol=0.03, atol=0)


class SpreadFirstLayer(nn.Module):
    """First layer with well-separated singular values, so its singular vectors are well defined."""

    latent_dim = 5

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(2)
        u, _ = torch.linalg.qr(torch.randn(600, 5, generator=g))
        v, _ = torch.linalg.qr(torch.randn(5, 5, generator=g))
        self.first = nn.Linear(5, 600)
        with torch.no_grad():
            self.first.weight.copy_(u @ torch.diag(torch.tensor([8.0, 5.0, 3.0, 2.0, 1.0])) @ v.T)
        self.out = nn.Linear(600, 64)

    def forward(self, z):
        return torch.sigmoid(self.out(torch.relu(self.first(z)))).view(-1, 1, 8, 8)


def test_ganspace_on_first_layer_equals_unnormalised_sefa():
    """y = A z + b with z ~ N(0, I): activation PCA regressed back to z gives A's right singular vectors."""
    model = SpreadFirstLayer()
    gs = GANSpace(n_directions=4, layer="first", n_samples=20_000, random_state=0).fit(model).directions_
    sf = SeFa(n_directions=4, normalize=False).fit(model).directions_
    cos = _abs_cos(gs.basis, sf.basis)
    assert torch.all(cos > 0.995), cos
    assert torch.all(gs.scores[:-1] >= gs.scores[1:])
    # 'auto' picks the same first layer
    auto = GANSpace(n_directions=4, n_samples=20_000, random_state=0).fit(model).directions_
    torch.testing.assert_close(auto.basis, gs.basis)


def test_ganspace_wide_layer_uses_randomised_pca_consistently():
    """600 features > 512: the randomised path must agree with the exact covariance path on a narrow copy."""
    model = SpreadFirstLayer()
    wide = GANSpace(n_directions=3, layer="first", n_samples=4000, random_state=1).fit(model).directions_
    gen = as_generator(model)
    z = gen.sample_latents(4000, torch.Generator().manual_seed(9))
    with torch.no_grad():
        y = gen.features(z, "first").double()
    yc = y - y.mean(0)
    vals = torch.linalg.eigvalsh(yc.T @ yc / (len(y) - 1)).flip(0)[:3]
    ratio = vals / torch.trace(yc.T @ yc / (len(y) - 1))
    torch.testing.assert_close(wide.scores.double(), ratio, rtol=0.05, atol=0)
