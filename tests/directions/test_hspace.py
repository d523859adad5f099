"""h-space: hooks, Asyrp edits, the h-space generator, and gradients through the whole chain."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from latentlens.directions.checkpointed_chain import SavedTensorMeter, checkpointed_chain, full_graph_chain
from latentlens.directions.hspace import ImplicitDelta, PerStepShift, as_diffusion, edit_images, invert_images
from latentlens.directions.hspace_generator import HSpaceGenerator
from latentlens.errors import LatentLensError
from latentlens.models import build_model

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: one thread is fastest

TINY = {"image_size": 16, "patch_size": 1, "base_channels": 8, "channel_mult": [1, 2], "num_timesteps": 100}


def tiny_ddpm(dtype=torch.float32, seed: int = 0):
    torch.manual_seed(seed)
    model = build_model("ddpm", TINY).to(dtype).eval()
    for p in model.unet.out.parameters():
        nn.init.normal_(p, std=0.05)
    return model


def _chain_gradients(steps: int):
    model = tiny_ddpm(torch.float64)
    diffusion = as_diffusion(model)
    sampler = diffusion.sampler(steps)
    delta = torch.randn(3, *diffusion.h_shape, dtype=torch.float64, requires_grad=True)
    edited = diffusion.edited_eps(delta, sampler)

    def step(x, i):
        return sampler.step(x, i, edited=edited, mode="asyrp")

    x_T = torch.randn(3, 1, 16, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    weights = torch.randn(3, 1, 16, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    with SavedTensorMeter() as full_memory:
        full = full_graph_chain(step, x_T, steps)
    (full_grad,) = torch.autograd.grad((full * weights).sum(), delta)
    ckpt = checkpointed_chain(step, x_T, steps, params=(delta,))
    (ckpt_grad,) = torch.autograd.grad((ckpt * weights).sum(), delta)
    with SavedTensorMeter() as one_step:
        step(x_T, 0)
    stored = steps * x_T.numel() * x_T.element_size()
    return full, ckpt, full_grad, ckpt_grad, full_memory.bytes, one_step.bytes + stored


def test_checkpointed_gradient_equals_full_graph_autograd():
    full, ckpt, full_grad, ckpt_grad, _, _ = _chain_gradients(10)
    assert torch.equal(full.detach(), ckpt.detach())
    assert float(full_grad.norm()) > 0
    assert float((ckpt_grad - full_grad).norm() / full_grad.norm()) < 1e-5


def test_checkpointed_chain_keeps_at_least_three_times_less_at_t20():
    *_, full_bytes, ckpt_bytes = _chain_gradients(20)
    assert full_bytes >= 3 * ckpt_bytes


def test_checkpointed_chain_reaches_module_parameters_and_the_start():
    torch.manual_seed(0)
    layer = nn.Linear(4, 4).double()

    def step(x, i):
        return torch.tanh(layer(x)) + 0.1 * i

    x = torch.randn(5, 4, dtype=torch.float64, requires_grad=True)
    loss = checkpointed_chain(step, x, 6, params=list(layer.parameters())).pow(2).sum()
    loss.backward()
    got = [x.grad.clone()] + [p.grad.clone() for p in layer.parameters()]
    x.grad = None
    layer.zero_grad()
    full_graph_chain(step, x, 6).pow(2).sum().backward()
    want = [x.grad] + [p.grad for p in layer.parameters()]
    for g, w in zip(got, want):
        assert torch.allclose(g, w, rtol=1e-10, atol=1e-12)


def test_hooks_are_released_and_the_model_is_unchanged():
    model = tiny_ddpm()
    diffusion = as_diffusion(model)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x, t = torch.randn(2, 1, 16, 16), torch.tensor([50, 50])
    reference = model(x, t)
    sampler = diffusion.sampler(5)
    edited = diffusion.edited_eps(torch.ones(*diffusion.h_shape), sampler)
    assert not torch.allclose(edited(x, t), reference)
    with pytest.raises(RuntimeError):
        with diffusion.shifted(torch.ones(*diffusion.h_shape)):
            raise RuntimeError("interrupted")
    assert len(model.unet.middle._forward_hooks) == 0
    assert torch.equal(model(x, t), reference)
    diffusion.h(x, 50)
    assert len(model.unet.middle._forward_hooks) == 0
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())


def test_a_shift_keeps_the_form_of_a_middle_block_that_returns_a_tuple():
    class TupleMiddle(nn.Module):
        def forward(self, x):
            return x * 2, "extra"

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.mid_block = TupleMiddle()

        def forward(self, x, t):
            h, extra = self.mid_block(x)
            assert extra == "extra"
            return h.mean() * torch.ones_like(x) + 0 * t.float().view(-1, 1, 1, 1)

    diffusion = as_diffusion(Net(), betas=torch.linspace(1e-4, 0.02, 100), image_shape=(1, 4, 4))
    x, t = torch.randn(2, 1, 4, 4), torch.tensor([10, 10])
    with diffusion.shifted(torch.full((1, 4, 4), 0.5)):
        shifted = diffusion.eps(x, t)
    assert torch.allclose(shifted, (2 * x + 0.5).mean() * torch.ones_like(x))


def test_a_zero_shift_reproduces_the_unedited_sample_exactly():
    model = tiny_ddpm()
    x_T = torch.randn(3, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    plain = edit_images(model, x_T, None, steps=8)
    zero = torch.zeros(as_diffusion(model).h_shape)
    for mode in ("asyrp", "symmetric"):
        assert torch.equal(edit_images(model, x_T, zero, steps=8, mode=mode), plain)
    assert not torch.equal(edit_images(model, x_T, zero + 3.0, steps=8), plain)


def test_global_per_step_and_implicit_edits():
    model = tiny_ddpm()
    diffusion = as_diffusion(model)
    x_T = torch.randn(2, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    plain = edit_images(model, x_T, None, steps=6)
    delta = torch.randn(diffusion.h_shape, generator=torch.Generator().manual_seed(1))
    same_every_step = PerStepShift(delta.expand(6, *delta.shape))
    assert torch.allclose(edit_images(model, x_T, same_every_step, steps=6), edit_images(model, x_T, delta, steps=6))
    torch.manual_seed(3)
    implicit = ImplicitDelta(diffusion.h_shape[0], emb_dim=16)
    edited = edit_images(model, x_T, implicit, steps=6, strength=5.0)
    assert not torch.allclose(edited, plain)
    assert torch.equal(edit_images(model, x_T, implicit, steps=6, strength=0.0), plain)
    only_first_steps = edit_images(model, x_T, delta, steps=6, t_edit=0.9)
    assert not torch.allclose(only_first_steps, plain) and not torch.allclose(only_first_steps, edit_images(model, x_T, delta, steps=6))
    with pytest.raises(LatentLensError):
        edit_images(model, x_T, PerStepShift(delta[None]), steps=6)


class NearExactDenoiser(nn.Module):
    """The exact denoiser of a one-image data set plus a small network's error: its samples are that image,
    inside [0, 1] (no clamping), so inversion can be judged pixel by pixel."""

    def __init__(self, target: torch.Tensor):
        super().__init__()
        self.net = tiny_ddpm(torch.float64)
        self.register_buffer("alphas_cumprod", self.net.alphas_cumprod.clone())
        self.register_buffer("target", target)
        self.h_layer = "net.unet.middle"
        self.image_shape = (1, 16, 16)

    def forward(self, x, t):
        a = self.alphas_cumprod[t].to(x.dtype)[:, None, None, None]
        return (x - a.sqrt() * self.target) / (1 - a).sqrt() + 0.05 * self.net(x, t)


def test_real_images_are_inverted_then_sampled_back():
    target = torch.rand(1, 1, 16, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * 1.2 - 0.6
    model = NearExactDenoiser(target).eval()
    x_T = torch.randn(2, 1, 16, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    images = edit_images(model, x_T, None, steps=20)
    assert 0 < float(images.min()) and float(images.max()) < 1
    x_T_back = invert_images(model, images, steps=20)
    rebuilt = edit_images(model, x_T_back, None, steps=20)
    assert float(((rebuilt - images) ** 2).mean()) < 1e-3 * float(images.var())


def test_h_space_generator_keeps_each_rows_noise_and_refuses_far_latents():
    model = tiny_ddpm()
    gen = HSpaceGenerator(model, steps=5, n_calibration=32)
    assert gen.latent_dim == 16 * 8 * 8
    z = gen.sample_latents(4, torch.Generator().manual_seed(0))
    assert z.shape == (4, gen.latent_dim) and abs(float(z.pow(2).mean()) - 1) < 0.5
    images = gen(z)
    assert images.shape == (4, 1, 16, 16) and float(images.min()) >= 0 and float(images.max()) <= 1
    unedited = gen.render(gen.noise(gen._anchor_seed[-4:]))
    assert torch.allclose(images, unedited, atol=1e-6)
    direction = torch.zeros(gen.latent_dim)
    direction[0] = 1.0
    both = gen(torch.cat([z, z + 3 * direction]))  # how every finder calls a generator
    assert torch.allclose(both[:4], images, atol=1e-6) and not torch.allclose(both[4:], images)
    with pytest.raises(LatentLensError, match="not near"):
        gen(z + 1e3 * direction)


def test_h_space_images_build_no_graph_through_weights_that_still_require_grad():
    model = tiny_ddpm()
    assert all(p.requires_grad for p in model.parameters())  # a user's model, not frozen by a finder
    gen = HSpaceGenerator(model, steps=5, n_calibration=32)
    z = gen.sample_latents(2, torch.Generator().manual_seed(0))
    assert not gen(z).requires_grad and not gen.shifted(z, torch.ones_like(z)).requires_grad
    delta = torch.ones_like(z, requires_grad=True)
    assert gen.shifted(z, delta).requires_grad  # a shift that asks for a gradient still gets one


def test_shifted_keeps_each_rows_noise_for_shifts_the_nearest_rule_refuses():
    from latentlens.directions.base import shifted_images

    gen = HSpaceGenerator(tiny_ddpm(), steps=4, n_calibration=16)
    z = gen.sample_latents(3, torch.Generator().manual_seed(0))
    direction = torch.zeros(gen.latent_dim)
    direction[5] = 1.0
    small = (2 * direction).expand(3, -1)
    assert torch.allclose(gen.shifted(z, small), gen(z + small), atol=1e-6)  # where both apply they agree
    large = (1e3 * direction).expand(3, -1)
    with pytest.raises(LatentLensError, match="not near"):
        gen(z + large)
    images = shifted_images(gen, z, large)  # what the finders and scorers call
    own_noise = gen.render(gen.noise(gen._anchor_seed[-3:]), (large * gen.h_scale).reshape(3, *gen.h_shape))
    assert torch.allclose(images, own_noise, atol=1e-6)
    assert not torch.allclose(images, gen(z), atol=1e-3)
    with pytest.raises(LatentLensError, match="shape"):
        gen.shifted(z, large[:2])


def test_voynov_trains_h_directions_with_shifts_far_past_the_sampled_latents():
    from latentlens.directions import build_finder

    gen = HSpaceGenerator(tiny_ddpm(), steps=3, n_calibration=16)
    z = gen.sample_latents(8, torch.Generator().manual_seed(1))
    spacing = float(torch.cdist(z, z).add(torch.eye(8) * 1e9).min())
    voynov = build_finder("voynov", n_directions=2, deformator="proj", init="random", n_steps=2, batch_size=4, n_eval=8,
                          lr=1e-3, shift_scale=2 * spacing, min_shift=spacing, random_state=0)  # fmt: skip
    torch.manual_seed(0)
    voynov.fit(gen)  # every shift is at least the distance between two sampled latents
    assert voynov.directions_.basis.shape == (2, gen.latent_dim) and voynov.history_[-1]["step"] == 2


def test_h_space_generator_passes_gradients_through_the_chain_like_autograd():
    model = tiny_ddpm(torch.float64)
    gen = HSpaceGenerator(model, steps=6, n_calibration=16)
    z = gen.sample_latents(2, torch.Generator().manual_seed(0)).double()
    shift = torch.zeros(gen.latent_dim, dtype=torch.float64, requires_grad=True)
    gen(z + shift).sum().backward()
    ckpt = shift.grad.clone()
    shift.grad = None
    gen.checkpoint = False
    gen(z + shift).sum().backward()
    assert float(ckpt.norm()) > 0 and torch.allclose(ckpt, shift.grad, rtol=1e-8, atol=1e-10)


def test_voynov_and_pca_run_on_h_space():
    from latentlens.directions import build_finder

    gen = HSpaceGenerator(tiny_ddpm(), steps=3, n_calibration=16)
    pca = build_finder("ganspace", n_directions=3, n_samples=64, layer="latent", random_state=0).fit(gen)
    assert pca.directions_.basis.shape == (3, gen.latent_dim)
    voynov = build_finder("voynov", n_directions=3, deformator="proj", init="random", n_steps=3, batch_size=4, n_eval=8,
                          lr=1e-3, random_state=0)  # fmt: skip
    torch.manual_seed(0)
    voynov.fit(gen)
    assert voynov.directions_.basis.shape == (3, gen.latent_dim)
    assert 0 <= voynov.rca_ <= 1 and voynov.history_[-1]["step"] == 3


class UserUNet(nn.Module):
    """A DDPM-like module of the diffusers kind: a ``mid_block``, ``forward(x, t)`` returning ``.sample``."""

    class Out:
        def __init__(self, sample):
            self.sample = sample

    def __init__(self):
        super().__init__()
        self.down = nn.Conv2d(1, 8, 3, stride=2, padding=1)
        self.mid_block = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.SiLU())
        self.up = nn.ConvTranspose2d(8, 1, 4, stride=2, padding=1)
        self.config = {"in_channels": 1, "sample_size": 16}

    def forward(self, x, t):
        h = self.down(x) + (t.float() / 1000)[:, None, None, None]
        return UserUNet.Out(self.up(self.mid_block(h)))


def test_a_users_ddpm_like_module_through_the_adapter():
    torch.manual_seed(0)
    user = UserUNet()
    with pytest.raises(LatentLensError, match="alphas_cumprod"):
        as_diffusion(user)
    betas = torch.linspace(1e-4, 0.02, 1000)
    diffusion = as_diffusion(user, betas=betas)
    assert diffusion.layer == "mid_block" and diffusion.h_shape == (8, 8, 8) and diffusion.image_shape == (1, 16, 16)
    gen = HSpaceGenerator(user, steps=4, n_calibration=8, betas=betas)
    z = gen.sample_latents(2, torch.Generator().manual_seed(0))
    assert gen(z + 0.5 * torch.randn(gen.latent_dim)).shape == (2, 1, 16, 16)
    with pytest.raises(LatentLensError, match="no layer"):
        as_diffusion(user, betas=betas, layer="bottleneck")
