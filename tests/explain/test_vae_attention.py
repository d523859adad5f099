"""VAE attention maps (Liu et al. 2020, Eqs. 1-3): vectorised pass vs per-dimension loop, a hand-computed
answer, the official variant's identity, hook hygiene and mode restoration."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from latentlens.errors import LatentLensError
from latentlens.explain.vae_attention import (
    VAEAttention,
    attention_loop_reference,
    linear_successor,
    official_map_features,
    upsample,
)
from latentlens.models import build_model


@pytest.fixture(scope="module")
def vae():
    torch.manual_seed(0)
    model = build_model("vae", {"in_channels": 1, "image_size": 32, "latent_dim": 6}).double()
    # larger weights than the default init so maps are O(1), not O(1e-5)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(3.0)
    return model


@pytest.fixture(scope="module")
def images():
    g = torch.Generator().manual_seed(1)
    return torch.rand(5, 1, 32, 32, generator=g, dtype=torch.float64)


def _no_hooks(model: nn.Module) -> bool:
    return all(not m._forward_hooks and not m._forward_pre_hooks and not m._backward_hooks for m in model.modules())


@pytest.mark.parametrize("layer", ["encoder.1", "encoder.2", "encoder.3", "encoder.7"])
@pytest.mark.parametrize("shortcut", [True, False])
def test_vectorised_equals_per_dimension_loop(vae, images, layer, shortcut):
    res = VAEAttention(vae, layer, shortcut=shortcut).attribute(images)
    ref_maps, ref_overall = attention_loop_reference(vae, images, layer)
    scale = ref_maps.abs().max()
    assert scale > 1e-3  # the maps are not trivially zero
    assert res.maps.shape == (5, 6, 32, 32) and res.overall.shape == (5, 1, 32, 32)
    assert (res.maps - ref_maps).abs().max() <= 1e-5 * max(1.0, scale)
    assert (res.overall - ref_overall).abs().max() <= 1e-5 * max(1.0, scale)


def test_shortcut_is_used_for_relu_before_conv(vae):
    assert linear_successor(vae, "encoder.3") == "encoder.4"
    assert linear_successor(vae, "encoder.2") is None  # followed by a ReLU
    assert linear_successor(vae, "encoder.7") is None  # last of its Sequential


def test_chunking_and_targets(vae, images):
    att = VAEAttention(vae, "encoder.3", variant="signed")
    full = att.attribute(images)
    chunked = att.attribute(images, chunk_size=2, batch_size=2)
    torch.testing.assert_close(full.maps, chunked.maps)
    sub = att.attribute(images, target=[4, 1])
    torch.testing.assert_close(sub.maps, full.maps[:, [4, 1]])
    assert sub.labels == ["z4", "z1"]
    one = att.attribute(images, target=3)
    torch.testing.assert_close(one.maps, full.maps[:, [3]])
    # a direction's signed map is linear in the direction (Grad-CAM is linear before the ReLU)
    v = torch.tensor([0.5, -1.0, 0.0, 2.0, 0.0, 0.25], dtype=torch.float64)
    direction = att.attribute(images, target=v)
    torch.testing.assert_close(direction.maps[:, 0], torch.einsum("d,ndhw->nhw", v, full.maps))
    both = att.attribute(images, target=torch.stack([v, -v]))
    torch.testing.assert_close(both.maps[:, 1], -direction.maps[:, 0])
    with pytest.raises(LatentLensError):
        att.attribute(images, target=[6])
    with pytest.raises(LatentLensError):
        att.attribute(images, target=torch.ones(3, dtype=torch.float64))


def test_maps_do_not_depend_on_the_rest_of_the_batch(vae, images):
    att = VAEAttention(vae, "encoder.3")
    torch.testing.assert_close(att.attribute(images).maps[2:3], att.attribute(images[2:3]).maps)


def test_official_variant_is_abs_of_summed_pre_relu_maps(vae, images):
    official = VAEAttention(vae, "encoder.3", variant="official").attribute(images)
    signed = VAEAttention(vae, "encoder.3", variant="signed").attribute(images)
    summed = signed.maps.sum(dim=1, keepdim=True)  # sum_i pre-ReLU M^i, upsampled
    # the official map is |sum_i pre-ReLU M^i| / (batch RMS of the summed gradient + 1e-5)
    mu, _, cap = VAEAttention(vae, "encoder.3").capture(images, detach=True)
    (g,) = torch.autograd.grad(mu.sum(), cap.activation)
    scale = g.pow(2).mean().sqrt() + 1e-5
    torch.testing.assert_close(official.overall * scale, summed.abs(), atol=1e-9, rtol=1e-7)


class HandEncoder(nn.Module):
    """A = conv1x1(x) with channel weights (1, 2); mu = W @ spatial_mean(A), W = [[1, 0], [0, -1]]."""

    latent_dim = 2

    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(nn.Conv2d(1, 2, 1, bias=False))
        with torch.no_grad():
            self.encoder[0].weight.copy_(torch.tensor([1.0, 2.0]).view(2, 1, 1, 1))
        self.head = torch.tensor([[1.0, 0.0], [0.0, -1.0]])

    def encode(self, x):
        a = self.encoder(x)
        mu = a.mean(dim=(-2, -1)) @ self.head.T
        return mu, torch.zeros_like(mu)


def test_known_answer_on_hand_built_encoder():
    model = HandEncoder()
    x = torch.rand(3, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    t = 16.0  # h * w
    res = VAEAttention(model, "encoder.0").attribute(x)
    # alpha^0 = (1, 0) / T -> M^0 = x / T;  alpha^1 = (0, -1) / T -> M^1 = ReLU(-2x / T) = 0
    torch.testing.assert_close(res.maps[:, 0:1], x / t)
    torch.testing.assert_close(res.maps[:, 1:2], torch.zeros_like(x))
    torch.testing.assert_close(res.overall, x / (2 * t))
    # directions: v = (1, -1) -> alpha = (1, 1) / T -> M = 3x / T;  v = (1, 1) -> M = ReLU(-x / T) = 0
    dirs = VAEAttention(model, "encoder.0").attribute(x, target=torch.tensor([[1.0, -1.0], [1.0, 1.0]]))
    torch.testing.assert_close(dirs.maps[:, 0:1], 3 * x / t)
    torch.testing.assert_close(dirs.maps[:, 1:2], torch.zeros_like(x))
    # official: gradient of sum(mu) is (1, -1) / T everywhere, RMS 1 / T -> alpha = (1, -1) -> |x - 2x| = x
    off = VAEAttention(model, "encoder.0", variant="official").attribute(x)
    torch.testing.assert_close(off.overall, x * (1 / t) / (1 / t + 1e-5), rtol=1e-6, atol=1e-7)


def test_hooks_removed_and_mode_restored_also_after_an_exception(vae, images):
    vae.train()
    att = VAEAttention(vae, "encoder.3")
    att.attribute(images)
    assert _no_hooks(vae) and vae.training
    with pytest.raises(RuntimeError):
        att.attribute(torch.rand(2, 3, 32, 32, dtype=torch.float64))  # wrong channel count
    assert _no_hooks(vae) and vae.training
    vae.eval()
    assert _no_hooks(vae)


def test_differentiable_maps_carry_second_order_gradients(vae, images):
    res = VAEAttention(vae, "encoder.3").attribute(images[:2], target=[0, 1], differentiable=True)
    assert res.maps.requires_grad
    head_weight = vae.encoder[6].weight  # after the layer: reached only through alpha
    (grad,) = torch.autograd.grad(res.maps.sum(), head_weight)
    assert grad.abs().sum() > 0
    assert _no_hooks(vae)


def test_normalize_and_unknown_names(vae, images):
    res = VAEAttention(vae, "encoder.3").attribute(images, normalize=True)
    assert res.overall.amin() >= 0 and res.overall.amax() <= 1 + 1e-9
    with pytest.raises(LatentLensError):
        VAEAttention(vae, "encoder.99")
    with pytest.raises(LatentLensError):
        VAEAttention(vae, "encoder.3", variant="gradcam++")


def test_sampled_latent_is_reproducible(vae, images):
    att = VAEAttention(vae, "encoder.3", latent="sample")
    a = att.attribute(images, generator=torch.Generator().manual_seed(3))
    b = att.attribute(images, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(a.maps, b.maps)


def test_batchnorm_in_training_mode_warns():
    model = HandEncoder()
    model.encoder.append(nn.BatchNorm2d(2))
    model.train()
    with pytest.warns(UserWarning, match="BatchNorm"):
        VAEAttention(model, "encoder.0").attribute(torch.rand(4, 1, 4, 4), keep_mode=True)


def test_official_map_features_single_backward_matches_sum_of_targets(vae, images):
    mu, _, cap = VAEAttention(vae, "encoder.3").capture(images, detach=True)
    basis = torch.eye(6, dtype=torch.float64)
    feats = official_map_features(mu, cap.activation, basis)
    assert feats.shape == (5, 1, 8, 8)
    # one backward per target, gradients summed: by linearity the same as the single backward
    grads = [torch.autograd.grad((mu @ row).sum(), cap.activation, retain_graph=True)[0] for row in basis]
    g = torch.stack(grads).sum(0)
    g = g / (g.pow(2).mean().sqrt() + 1e-5)
    expected = (g.mean(dim=(-2, -1), keepdim=True) * cap.activation).sum(dim=1, keepdim=True)
    torch.testing.assert_close(feats, expected, rtol=1e-9, atol=1e-12)
    assert feats.abs().max() > 0  # a map of zeros would match trivially


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 20), st.integers(1, 20), st.integers(1, 70), st.integers(1, 70), st.integers(0, 2**31 - 1))
def test_upsample_equals_torch_bilinear_interpolation(h, w, height, width, seed):
    """The two-matrix resize is F.interpolate(bilinear, align_corners=False) up and down, any ratio."""
    maps = torch.randn(2, 3, h, w, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    expected = F.interpolate(maps, size=(height, width), mode="bilinear", align_corners=False)
    torch.testing.assert_close(upsample(maps, (height, width)), expected, rtol=0, atol=1e-12)
