import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from latentlens.errors import LatentLensError
from latentlens.models import build_model
from latentlens.models.vae_objectives import (
    build_objective,
    gaussian_kl,
    minibatch_total_correlation,
    permute_dims,
)


@pytest.mark.parametrize("kernels", ["4x4", "2x2"])
@pytest.mark.parametrize("channels,size", [(1, 64), (3, 32)])
def test_vae_shapes(kernels, channels, size):
    model = build_model("vae", {"in_channels": channels, "image_size": size, "encoder_kernels": kernels})
    x = torch.rand(2, channels, size, size)
    logits, mu, logvar, z = model.train()(x)
    assert logits.shape == x.shape and mu.shape == (2, 10) and logvar.shape == (2, 10) and z.shape == (2, 10)
    assert model.decode(mu).min() >= 0 and model.decode(mu).max() <= 1


def test_2x2_variant_really_uses_2x2_kernels():
    model = build_model("vae", {"encoder_kernels": "2x2"})
    assert [m.kernel_size for m in model.encoder if isinstance(m, torch.nn.Conv2d)] == [(4, 4), (4, 4), (2, 2), (2, 2)]


def test_eval_mode_encodes_deterministically():
    model = build_model("vae", {}).eval()
    x = torch.rand(3, 1, 64, 64)
    assert torch.equal(model(x)[3], model.encode(x)[0])


def test_gan_shapes_and_first_layer():
    model = build_model("gan", {"in_channels": 3, "latent_dim": 7, "width": 8})
    z = model.sample_latents(4, torch.Generator().manual_seed(0))
    images = model(z)
    assert images.shape == (4, 3, 64, 64) and 0 <= images.min() and images.max() <= 1
    assert model.first_layer_weight().shape == (8 * 8 * 16, 7)
    assert model.discriminator(images).shape == (4,)


def test_bad_configs_are_user_errors():
    with pytest.raises(LatentLensError):
        build_model("vae", {"image_size": 60})
    with pytest.raises(LatentLensError):
        build_model("vae", {"bogus": 1})
    with pytest.raises(LatentLensError):
        build_model("gan", {"image_size": 128})


def test_kl_known_values():
    assert gaussian_kl(torch.zeros(4, 3), torch.zeros(4, 3)).item() == 0.0
    mu, logvar = torch.full((1, 2), 2.0), torch.full((1, 2), math.log(0.5))
    expected = 2 * 0.5 * (4 + 0.5 - math.log(0.5) - 1)
    assert gaussian_kl(mu, logvar).item() == pytest.approx(expected, rel=1e-6)


@settings(max_examples=25, deadline=None)
@given(st.integers(2, 12), st.integers(1, 6), st.integers(0, 1000))
def test_permute_dims_shuffles_each_column_independently(batch, dims, seed):
    z = torch.randn(batch, dims, generator=torch.Generator().manual_seed(seed))
    permuted = permute_dims(z, torch.Generator().manual_seed(seed + 1))
    for j in range(dims):
        assert torch.equal(torch.sort(permuted[:, j]).values, torch.sort(z[:, j]).values)


def test_tc_estimate_is_zero_for_a_single_sample_and_larger_for_correlated_codes():
    mu = torch.zeros(1, 3)
    assert minibatch_total_correlation(mu, mu, torch.zeros(1, 3)).abs().item() < 1e-5
    g = torch.Generator().manual_seed(0)
    base = torch.randn(256, 1, generator=g)
    correlated = base.repeat(1, 4)
    independent = torch.randn(256, 4, generator=g)
    logvar = torch.full((256, 4), math.log(0.05**2))
    assert minibatch_total_correlation(correlated, correlated, logvar) > minibatch_total_correlation(
        independent, independent, logvar
    ) + 1.0


def test_beta_tcvae_with_beta_one_is_the_plain_vae_loss():
    model = build_model("vae", {}).train()
    x = (torch.rand(4, 1, 64, 64) > 0.5).float()
    tc = build_objective("beta-tcvae", 10, beta=1.0)(model, x, torch.Generator().manual_seed(0))
    vae = build_objective("beta-vae", 10, beta=1.0)(model, x, torch.Generator().manual_seed(0))
    assert tc["loss"].item() == pytest.approx(vae["loss"].item(), rel=1e-6)


def test_beta_tcvae_kl_weight_scales_all_but_the_total_correlation():
    model = build_model("vae", {}).train()
    x = (torch.rand(4, 1, 64, 64) > 0.5).float()
    for kl_weight in (1.0, 0.1):
        out = build_objective("beta-tcvae", 10, beta=4.0, kl_weight=kl_weight)(model, x, torch.Generator().manual_seed(0))
        expected = out["rec"] + kl_weight * out["kl"] + (4.0 - kl_weight) * out["tc"]
        assert out["loss"].item() == pytest.approx(expected.item(), rel=1e-6)
    assert build_objective("beta-tcvae", 10, beta=4.0, kl_weight=0.1).hparams() == {"beta": 4.0, "kl_weight": 0.1}


def test_factorvae_discriminator_starts_near_chance_and_learns():
    torch.manual_seed(0)
    objective = build_objective("factorvae", 4, gamma=10.0, disc_width=64)
    assert objective.discriminator_loss(torch.randn(64, 4)).item() == pytest.approx(math.log(2), abs=0.05)
    opt = torch.optim.Adam(objective.discriminator.parameters(), 1e-3)
    g = torch.Generator().manual_seed(0)
    for _ in range(150):
        base = torch.randn(128, 1, generator=g)
        z = torch.cat([base, base, torch.randn(128, 2, generator=g)], 1)
        loss = objective.discriminator_loss(z, g)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.5  # it tells correlated codes from their permuted marginals
