"""Generators written as users write them: each case was a silent wrong answer or a crash before."""

import pytest
import torch
from user_models import AttrVAE, ConditionalGenerator, DCGANGenerator, MLPGenerator, MethodVAE, seeded

from latentlens.directions import GANSpace, SeFa, as_generator
from latentlens.errors import LatentLensError


def test_dcgan_generator_latent_size_first_layer_and_range_are_inferred():
    module = seeded(DCGANGenerator(nz=8))
    gen = as_generator(module)
    assert gen.latent_dim == 8 and gen.latent_shape == (8, 1, 1)
    assert gen.first_layer == "main.0" and gen.output_range == "tanh"
    z = gen.sample_latents(5, torch.Generator().manual_seed(0))
    images = gen(z)
    assert images.shape == (5, 1, 32, 32)
    assert images.min() >= 0 and images.max() <= 1
    torch.testing.assert_close(images, (module(z.view(5, 8, 1, 1)) + 1) / 2)  # the tanh range, not clipped
    w = gen.first_layer_weight()
    assert w.shape == (32 * 4 * 4, 8)
    d = SeFa(n_directions=3).fit(gen).directions_
    strip = d.traverse(gen, z[:2], 0, [-1.0, 0.0, 1.0])
    assert strip.shape == (6, 1, 32, 32)


def test_tanh_output_is_detected_not_clipped():
    class TanhMLP(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(4, 64)

        def forward(self, z):
            return torch.tanh(3 * self.fc(z)).view(-1, 1, 8, 8)

    gen = as_generator(seeded(TanhMLP()))
    assert gen.output_range == "tanh"
    out = gen(torch.randn(50, 4))
    assert out.min() < 0.1 and out.max() > 0.9  # the full [0, 1] range is used


def test_ambiguous_output_range_is_a_clear_error():
    class Unbounded(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(4, 64)

        def forward(self, z):
            return 10 * self.fc(z).view(-1, 1, 8, 8)

    with pytest.raises(LatentLensError, match="output_range="):
        as_generator(seeded(Unbounded()))
    assert as_generator(seeded(Unbounded()), output_range="logits").output_range == "logits"


def test_mlp_generator_reads_z_dim_and_its_linear_first_layer():
    gen = as_generator(seeded(MLPGenerator(z_dim=6)))
    assert gen.latent_dim == 6 and gen.first_layer == "net.0" and gen.output_range == "unit"
    assert len(GANSpace(n_samples=200, random_state=0).fit(gen).directions_) == 6


def test_conditional_generator_with_a_fixed_class():
    module = seeded(ConditionalGenerator(nz=5, n_classes=3))
    gen0 = as_generator(module, condition=0, latent_dim=5)
    gen2 = as_generator(module, condition=2, latent_dim=5)
    z = torch.randn(4, 5)
    torch.testing.assert_close(gen0(z), module(z, torch.zeros(4, dtype=torch.long)))
    assert not torch.allclose(gen0(z), gen2(z))


def test_user_vae_without_encode_uses_the_decoder_not_the_encoder():
    """Before: latent_dim came from the encoder's first Linear (1024) and SeFa factorised the encoder weight."""
    vae = seeded(AttrVAE(latent=4))
    gen = as_generator(vae)
    assert gen.latent_dim == 4
    assert gen.first_layer == "decoder.0"
    torch.testing.assert_close(gen.first_layer_weight(), vae.decoder[0].weight.detach())
    d = SeFa().fit(gen).directions_
    assert d.basis.shape == (4, 4)
    z = torch.randn(3, 4)
    torch.testing.assert_close(gen(z), vae.decoder(z))


def test_vae_adapter_options_are_accepted_and_ambiguity_is_named():
    vae = seeded(MethodVAE(latent=3))
    with pytest.raises(LatentLensError, match="latent_dim="):
        as_generator(vae)
    with pytest.raises(LatentLensError, match="output_range="):
        as_generator(vae, latent_dim=3)
    gen = as_generator(vae, latent_dim=3, output_range="logits")
    z = torch.randn(2, 3)
    torch.testing.assert_close(gen(z), torch.sigmoid(vae.decode(z)))


def test_ganspace_refuses_a_generator_without_a_detectable_layer():
    class NoLayers(torch.nn.Module):
        latent_dim = 4

        def forward(self, z):
            return torch.sigmoid(z[:, :1, None, None].expand(-1, 1, 4, 4))

    gen = as_generator(NoLayers())
    with pytest.raises(LatentLensError, match="layer="):
        GANSpace(n_samples=100, random_state=0).fit(gen)
    with pytest.warns(UserWarning, match="isotropic"):
        GANSpace(layer="latent", n_samples=100, random_state=0).fit(gen)


def test_protocol_violations_are_clear_errors():
    class Flat(torch.nn.Module):
        latent_dim = 3

        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(3, 10)

        def forward(self, z):
            return torch.sigmoid(self.fc(z))

    gen = as_generator(seeded(Flat()))
    with pytest.raises(LatentLensError, match=r"images \(N, C, H, W\)"):
        gen(torch.randn(2, 3))
    with pytest.raises(LatentLensError, match=r"shape \(N, 3\)"):
        gen(torch.randn(2, 4))
    with pytest.raises(LatentLensError, match="cannot use a str"):
        as_generator("not a model")


def test_per_image_conditions_are_refused_as_ambiguous():
    module = seeded(ConditionalGenerator(nz=5, n_classes=3))
    gen = as_generator(module, condition=torch.zeros(4, 3), latent_dim=5, output_range="unit")
    with pytest.raises(LatentLensError, match="one condition vector"):
        gen(torch.randn(4, 5))
