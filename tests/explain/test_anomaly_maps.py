"""Anomaly maps (Liu et al. 2020, Eq. 4 variants and reconstruction baselines): identities with the
attention maps, the exact sampled-map shortcut, and the normal statistics."""

from __future__ import annotations

import pytest
import torch

from latentlens.errors import LatentLensError
from latentlens.explain.anomaly import METHODS, AnomalyMapper, NormalStats, aggregate_posterior, ssim_map
from latentlens.explain.vae_attention import VAEAttention, combine, upsample
from latentlens.models import build_model


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    model = build_model("vae", {"in_channels": 3, "image_size": 32, "latent_dim": 4}).double()
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(2.0)
    g = torch.Generator().manual_seed(0)
    normal = torch.rand(12, 3, 32, 32, generator=g, dtype=torch.float64)
    test = torch.rand(5, 3, 32, 32, generator=g, dtype=torch.float64)
    return model, normal, test


def test_aggregate_posterior_moments(setup):
    model, normal, _ = setup
    stats = aggregate_posterior(model, normal, batch_size=5)
    mu, logvar = model.encode(normal)
    torch.testing.assert_close(stats.mu.double(), mu.mean(0).detach(), rtol=1e-5, atol=1e-6)
    # law of total variance: mixture variance = mean of variances + variance of means
    expected = logvar.exp().mean(0) + mu.var(0, unbiased=False)
    torch.testing.assert_close(stats.var.double(), expected.detach(), rtol=1e-5, atol=1e-6)
    back = NormalStats.from_tensors(stats.to_tensors())
    assert torch.equal(back.mu, stats.mu)


def test_paper_map_is_rectified_negative_attention(setup):
    model, normal, test = setup
    mapper = AnomalyMapper(model, "encoder.3").fit(normal)
    signed = VAEAttention(model, "encoder.3", variant="signed").attribute(test).feature_maps  # pre-ReLU M^i(mu)
    expected = upsample((-signed).relu().mean(dim=1, keepdim=True), (32, 32))
    torch.testing.assert_close(mapper.maps(test, "paper"), expected)


def test_sampled_map_equals_explicit_backprop_of_each_draw(setup):
    model, normal, test = setup
    mapper = AnomalyMapper(model, "encoder.3", samples=3, seed=5, batch_size=64).fit(normal)
    fast = mapper.maps(test, "paper-sampled")
    gen = torch.Generator().manual_seed(5)
    att = VAEAttention(model, "encoder.3", shortcut=False)
    total = 0
    for _ in range(3):
        eps = torch.randn(len(test), 4, generator=gen).double()
        maps = []
        for i in range(4):
            mu, logvar, cap = att.capture(test, detach=True)
            u = mapper.stats_.mu.double() - mu + torch.sqrt(mapper.stats_.var.double() + logvar.exp()) * eps
            (g,) = torch.autograd.grad(u[:, i].sum(), cap.activation)
            alpha = g.mean(dim=(-2, -1))[None]
            maps.append(combine(alpha, cap.activation).relu())
        total = total + torch.cat(maps, dim=1).mean(dim=1, keepdim=True)
    torch.testing.assert_close(fast, upsample(total / 3, (32, 32)).detach())


def test_official_and_reconstruction_maps(setup):
    model, normal, test = setup
    mapper = AnomalyMapper(model, "encoder.3", batch_size=64)
    official = VAEAttention(model, "encoder.3", variant="official").attribute(test).overall
    torch.testing.assert_close(mapper.maps(test, "official"), official)
    with torch.no_grad():
        recon = model.decode(model.encode(test)[0])
    torch.testing.assert_close(mapper.maps(test, "recon-l2"), (test - recon).pow(2).sum(1, keepdim=True))
    ssim_self = ssim_map(test, test)
    torch.testing.assert_close(ssim_self, torch.ones_like(ssim_self))
    assert ssim_map(test, 1 - test).mean() < 0.5


def test_every_method_gives_one_nonnegative_map_per_image(setup):
    model, normal, test = setup
    model.train()
    mapper = AnomalyMapper(model, "encoder.3", samples=2).fit(normal)
    for method in METHODS:
        maps = mapper.maps(test, method)
        assert maps.shape == (5, 1, 32, 32) and torch.isfinite(maps).all()
        assert maps.min() >= -1e-9 or method == "recon-ssim"  # 1 - SSIM can dip below 0
        assert mapper.image_scores(maps).shape == (5,)
    assert model.training and all(not m._forward_hooks for m in model.modules())


def test_errors(setup):
    model, _, test = setup
    with pytest.raises(LatentLensError, match="fit"):
        AnomalyMapper(model).maps(test, "paper")
    with pytest.raises(LatentLensError, match="unknown anomaly method"):
        AnomalyMapper(model).maps(test, "patchcore")
