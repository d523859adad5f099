"""Tensors the toolkit makes follow the model's device. CI has no GPU, so the model lives on PyTorch's "meta"
device (shapes without storage): anything made on the CPU and fed to it fails, as it would on CUDA."""

import pytest
import torch
from user_models import AttrVAE, DCGANGenerator, seeded

from latentlens.adapters import as_vae
from latentlens.directions import Directions, as_generator


def test_generator_calls_and_traversals_follow_a_model_on_another_device():
    gen = as_generator(seeded(DCGANGenerator(nz=8)).to("meta"), output_range="tanh")
    z = gen.sample_latents(3, torch.Generator().manual_seed(0))
    images = gen(z)
    assert images.device.type == "meta" and images.shape == (3, 1, 32, 32)
    strip = Directions(basis=torch.eye(8)[:2], method="test").traverse(gen, z[:1], 1, [-1.0, 0.0, 1.0])
    assert strip.device.type == "meta" and strip.shape == (3, 1, 32, 32)


def test_a_vae_adapter_follows_a_model_on_another_device():
    vae = as_vae(seeded(AttrVAE(latent=4)).to("meta"), output_range="unit")
    mu, logvar = vae.encode(torch.rand(2, 1, 32, 32))
    assert mu.device.type == "meta" and mu.shape == (2, 4)
    assert vae.decode(torch.zeros(2, 4)).device.type == "meta"


def test_a_cpu_tensor_fed_to_a_meta_model_does_fail():
    """The premise of the tests above: without the adapters' moves, mixing devices is an error."""
    module = seeded(DCGANGenerator(nz=8)).to("meta")
    with pytest.raises((RuntimeError, NotImplementedError)):
        module(torch.randn(1, 8, 1, 1)).sum().item()
