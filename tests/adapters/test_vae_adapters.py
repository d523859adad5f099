"""User VAEs through the VAE protocol and VAE attention: each case crashed or was refused before."""

import pytest
import torch
from torch import nn
from user_models import AttrVAE, MethodVAE, seeded

from latentlens.adapters import as_vae
from latentlens.directions import Directions
from latentlens.errors import LatentLensError
from latentlens.explain.vae_attention import VAEAttention, attention_loop_reference


@pytest.fixture
def images():
    return torch.rand(3, 1, 32, 32, generator=torch.Generator().manual_seed(0))


def test_attr_vae_speaks_the_protocol(images):
    vae = seeded(AttrVAE(latent=4))
    adapted = as_vae(vae)
    assert adapted.latent_dim == 4 and adapted.output_range == "unit"
    mu, logvar = adapted.encode(images)
    expected_mu, expected_logvar = vae.encoder(images).chunk(2, dim=1)
    torch.testing.assert_close(mu, expected_mu)
    torch.testing.assert_close(logvar, expected_logvar)
    torch.testing.assert_close(adapted.decode(mu), vae.decoder(mu))


def test_forward_only_vae_and_plain_functions():
    vae = seeded(AttrVAE(latent=4))

    class ForwardOnly(nn.Module):  # no encode, no encoder attribute: only forward -> (recon, mu, logvar)
        def __init__(self):
            super().__init__()
            self.inner = vae

        def forward(self, x):
            return self.inner(x)

    x = torch.rand(2, 1, 32, 32)
    via_forward = as_vae(ForwardOnly(), latent_dim=4, output_range="unit")
    torch.testing.assert_close(via_forward.encode(x)[0], vae.encoder(x)[:, :4])
    funcs = as_vae(encode=lambda t: vae.encoder(t).chunk(2, dim=1), decode=vae.decoder, latent_dim=4)
    torch.testing.assert_close(funcs.decode(torch.zeros(1, 4)), vae.decoder(torch.zeros(1, 4)))
    with pytest.raises(LatentLensError, match="latent_dim="):
        as_vae(encode=lambda t: t)


def test_attention_on_a_user_vae_with_inplace_relu_matches_the_loop(images):
    """encoder.2 is followed by ReLU(inplace=True): the hooked activation must not be overwritten."""
    vae = seeded(AttrVAE(latent=4))
    result = VAEAttention(vae, "encoder.2").attribute(images)
    adapted = as_vae(vae)
    reference, _ = attention_loop_reference(_Rooted(adapted), images, "module.encoder.2")
    torch.testing.assert_close(result.maps, reference, rtol=1e-4, atol=1e-6)
    assert result.maps.abs().sum() > 0
    assert VAEAttention(vae).layer == "encoder.2"  # auto: the encoder's last convolution


class _Rooted(nn.Module):
    """The adapter as a plain module, so the reference loop can hook ``module.<name>`` layers."""

    def __init__(self, adapted):
        super().__init__()
        self.module = adapted.module
        self.adapted = adapted

    def encode(self, x):
        return self.adapted.encode(x)


def test_attention_from_an_encode_function_and_a_layer_module(images):
    vae = seeded(AttrVAE(latent=4))
    by_function = VAEAttention(lambda x: vae.encoder(x).chunk(2, dim=1), layer=vae.encoder[2])
    by_module = VAEAttention(vae, "encoder.2")
    torch.testing.assert_close(by_function.attribute(images).maps, by_module.attribute(images).maps)
    with pytest.raises(LatentLensError, match="layer module itself"):
        VAEAttention(lambda x: vae.encoder(x), layer="encoder.2")


def test_a_flattened_layer_is_a_clear_error(images):
    vae = seeded(AttrVAE(latent=4))
    with pytest.raises(LatentLensError, match=r"not a \(N, C, H, W\) feature map"):
        VAEAttention(vae, "encoder.5").attribute(images)
    with pytest.raises(LatentLensError, match="no convolutional encoder layer"):
        VAEAttention(seeded(MethodVAE()), latent_dim=3)


def test_attention_explains_the_directions_of_an_artifact(images):
    vae = seeded(AttrVAE(latent=4))
    basis = torch.linalg.qr(torch.randn(4, 2, generator=torch.Generator().manual_seed(1)))[0].T
    dirs = Directions(basis=basis, method="test", names=["tilt", "size"])
    result = VAEAttention(vae, "encoder.2").attribute(images, target=dirs)
    assert result.labels == ["tilt", "size"]
    same = VAEAttention(vae, "encoder.2").attribute(images, target=basis)
    torch.testing.assert_close(result.maps, same.maps)


def test_explain_workflow_on_a_user_vae_with_a_seeded_sample(tmp_path):
    import numpy as np
    from PIL import Image

    from latentlens.io import read_json
    from latentlens.workflows import explain
    from latentlens.workflows.explain import load_images

    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(12):
        Image.fromarray(np.full((32, 32), i * 20, np.uint8)).save(folder / f"{i:02d}.png")
    a, b = load_images(str(folder), 4, seed=0, image_size=32), load_images(str(folder), 4, seed=0, image_size=32)
    torch.testing.assert_close(a, b)
    firsts = torch.stack([torch.full((1, 32, 32), i * 20 / 255) for i in range(4)])
    assert not torch.allclose(a, firsts)  # a seeded sample, not the first files
    summary = explain(seeded(AttrVAE(latent=4)), str(folder), out_dir=tmp_path / "run", n=4, image_size=32)
    assert summary["layer"] == "encoder.2" and summary["labels"] == ["z0", "z1", "z2", "z3"]
    assert (tmp_path / "run" / "attention" / "overview.png").is_file()
    assert read_json(tmp_path / "run" / "attention" / "summary.json")["n"] == 4


def test_trunk_plus_heads_vae_reads_its_moments_from_forward():
    """encoder = trunk, fc_mu / fc_logvar heads, forward -> (recon, mu, logvar): the trunk is not the encoder."""

    class HeadsVAE(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(64, 8), nn.ReLU())  # width 8 = 2 * latent 4
            self.fc_mu, self.fc_logvar = nn.Linear(8, 4), nn.Linear(8, 4)
            self.decoder = nn.Sequential(nn.Linear(4, 64), nn.Sigmoid(), nn.Unflatten(1, (1, 8, 8)))

        def forward(self, x):
            h = self.encoder(x)
            mu, logvar = self.fc_mu(h), self.fc_logvar(h)
            return self.decoder(mu), mu, logvar

    vae = seeded(HeadsVAE()).train()
    adapted = as_vae(vae)
    assert not vae.training  # put in eval mode
    x = torch.rand(3, 1, 8, 8)
    torch.testing.assert_close(adapted.encode(x)[0], vae.fc_mu(vae.encoder(x)))


def test_a_decoder_that_reshapes_first_asks_for_the_latent_size():
    class ReshapeFirst(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(64, 256))
            self.decoder = nn.Sequential(nn.Unflatten(1, (32, 2, 2)), nn.ConvTranspose2d(32, 1, 4, 4), nn.Sigmoid())

    with pytest.raises(LatentLensError, match="latent_dim="):
        as_vae(seeded(ReshapeFirst()))
    assert as_vae(seeded(ReshapeFirst()), latent_dim=128).latent_dim == 128


def test_a_user_wrapper_with_a_generator_attribute_is_not_taken_for_latentlens_gan():
    from latentlens.directions import as_generator

    class Wrapper(nn.Module):
        latent_dim = 3

        def __init__(self):
            super().__init__()
            self.generator = nn.Sequential(nn.Linear(3, 16), nn.Sigmoid(), nn.Unflatten(1, (1, 4, 4)))

        def forward(self, z):
            return self.generator(z)

    gen = as_generator(seeded(Wrapper()))
    assert gen.latent_dim == 3 and gen(torch.randn(2, 3)).shape == (2, 1, 4, 4)
