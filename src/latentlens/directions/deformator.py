"""Voynov & Babenko: learned directions from a latent deformator and a reconstructor ("Unsupervised Discovery
of Interpretable Directions in the GAN Latent Space", ICML 2020; research/directions.md §1).

A deformator ``A`` (one column per direction) and a reconstructor ``R`` are trained jointly on the frozen
generator ``G`` (paper §3, Eq. 1):

    min_{A, R}  E_{z, k, eps} [ L_cl(k, k_hat) + lambda * L_r(eps, eps_hat) ],   (k_hat, eps_hat) = R(G(z), G(z + A(eps e_k)))

with ``z ~ N(0, I)``, ``k ~ U{1..K}``, ``eps ~ U[-6, 6]``, ``L_cl`` cross-entropy, ``L_r`` mean absolute error
and ``lambda = 0.25``. As in the official code, shifts with ``|eps| < 0.5`` are pushed out to ``+-0.5`` and both
networks use Adam with learning rate 1e-4. Deformator variants (paper §3.1):

- ``"ortho"``: orthonormal columns, ``A = expm(S - S^T)[:, :K]`` (matrix exponential of a skew-symmetric
  matrix, ``torch.linalg.matrix_exp``), initialised near the identity (``S = 0.001 N(0, 1)``);
- ``"proj"``: unit-length columns ``A = W / ||W||_col`` (the code's "projective" deformator);
- ``"linear"``: a free matrix (the code's ``nn.Linear`` minus its bias, which would shift every image alike).

For the two non-orthogonal variants, ``orthogonality="nog"`` or ``"olr"`` apply Song, Sebe & Wang's
orthogonality schemes (TPAMI 2023, research/other_seeds.md §6) to ``W``: NOG replaces the gradient ``G`` by its
nearest orthogonal matrix ``U V^T`` (``G = U S V^T``); OLR sets the step size to
``eta* = a b / (a c + 2 b^2)`` (``a = w^T w``, ``b = g^T w``, ``c = g^T g``) whenever ``0 < eta* < lr``.

``discriminator_weight > 0`` adds the realism term of Zhang et al. (h-space directions of diffusion models,
arXiv 2310.09912): a small CNN ``D`` learns to tell unshifted samples ``G(z)`` from shifted ones
``G(z + A(eps e_k))`` (non-saturating GAN loss) and the deformator also minimises
``discriminator_weight * softplus(-D(G(z + A(eps e_k))))``, which keeps shifted samples realistic instead of
destructive.

The reconstructor is LeNet-style (paper §3.3 for MNIST/Anime; code ``LeNetShiftPredictor``): three 5x5
convolutions with BatchNorm and max-pooling on the two images stacked along channels, global mean pooling,
and two heads (direction logits, shift).

Speed (CPU first): the generator's weights are frozen (no weight gradients are computed), the generator and
reconstructor run ``channels_last``, and evaluation runs under ``torch.inference_mode``. The image pair is
produced either by one batched forward of ``[z, z + shift]`` (``pair_forward="batched"``) or, the default,
by ``G(z)`` without autograd plus ``G(z + shift)`` with it (``"split"``): ``G(z)`` never needs a gradient,
so the split form back-propagates through half the images (about 3 instead of 4 forward-equivalents per
step), which measured faster on CPU at batch 32. When the deformator is frozen (baselines, RCA) the pair
is one batched forward without autograd. ``benchmarks/voynov_speed.py`` times both forms against the loop
written as in the reference code (separate forward passes with autograd, generator weights left trainable,
default memory layout).
"""

from __future__ import annotations

import logging
import math

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import LatentLensError
from ..registry import register
from .base import DirectionFinder, shifted_images, shifted_pair, torch_generator
from .generators import frozen
from .shift_networks import (
    LinearDeformator,
    Reconstructor,
    ShiftDiscriminator,
)

log = logging.getLogger(__name__)

VOYNOV_INITS = ("auto", "identity", "random", "sefa", "ganspace", "pca")
ORTHOGONALITY = ("none", "nog", "olr")


def sample_shifts(n: int, k: int, shift_scale: float, min_shift: float, gen: torch.Generator):
    """Direction indices ``U{0..K-1}`` and shifts ``shift_scale * U[-1, 1]`` with ``|eps| >= min_shift``."""
    idx = torch.randint(0, k, (n,), generator=gen)
    eps = (torch.rand(n, generator=gen) * 2 - 1) * shift_scale
    small = eps.abs() < min_shift
    eps = torch.where(small, torch.where(eps < 0, -min_shift, min_shift), eps)
    return idx, eps


def voynov_loss(logits, eps_hat, idx, eps, shift_weight: float = 0.25, label_weight: float = 1.0):
    """``label_weight * CE(k, k_hat) + shift_weight * |eps - eps_hat|`` (paper Eq. 1, lambda = 0.25)."""
    return label_weight * F.cross_entropy(logits, idx) + shift_weight * (eps_hat - eps).abs().mean()


def nearest_orthogonal_gradient(param: nn.Parameter) -> None:
    """NOG (Song et al. 2023): replace ``param.grad = U S V^T`` by ``U V^T`` (skipped on NaN/Inf)."""
    g = param.grad
    if g is None or not torch.isfinite(g).all():
        return
    u, _, vh = torch.linalg.svd(g.double(), full_matrices=False)
    param.grad.copy_((u @ vh).to(g.dtype))


def optimal_learning_rate(param: nn.Parameter, base_lr: float) -> float:
    """OLR (Song et al. 2023): ``eta* = a b / (a c + 2 b^2)`` if ``0 < eta* < base_lr``, else ``base_lr``."""
    if param.grad is None:
        return base_lr
    w, g = param.detach().double().flatten(), param.grad.double().flatten()
    a, b, c = w @ w, g @ w, g @ g
    denom = a * c + 2 * b * b
    eta = float(a * b / denom) if denom > 0 else base_lr
    return eta if 0 < eta < base_lr else base_lr


class _ChannelsLast:
    """Run a module channels_last inside the block and restore the default layout afterwards."""

    def __init__(self, module: nn.Module | None, enabled: bool = True):
        self.module, self.enabled = module, enabled and module is not None
        self.was_channels_last = False

    def __enter__(self):
        if self.enabled:
            convs = [p for p in self.module.parameters() if p.ndim == 4]
            self.was_channels_last = bool(convs) and all(
                p.is_contiguous(memory_format=torch.channels_last) and not p.is_contiguous() for p in convs
            )
            self.module.to(memory_format=torch.channels_last)

    def __exit__(self, *exc):
        if self.enabled and not self.was_channels_last:
            self.module.to(memory_format=torch.contiguous_format)
        return False


def train_shift_model(
    generator,
    deformator: nn.Module,
    reconstructor: Reconstructor,
    n_steps: int,
    batch_size: int = 32,
    shift_scale: float = 6.0,
    min_shift: float = 0.5,
    shift_weight: float = 0.25,
    lr: float = 1e-4,
    deformator_lr: float | None = None,
    train_deformator: bool = True,
    orthogonality: str = "none",
    seed: int = 0,
    show_progress: bool = False,
    desc: str = "voynov",
    pair_forward: str = "split",
    discriminator_weight: float = 0.0,
) -> list[dict]:
    """The Voynov & Babenko training loop (fast version); returns a short loss / accuracy history.

    With ``train_deformator=False`` only the reconstructor learns (the paper's protocol for the random and
    coordinate baselines, and our RCA of any fixed direction set); the generator then runs without autograd.
    """
    from tqdm.auto import tqdm

    if pair_forward not in ("split", "batched"):
        raise LatentLensError(f"pair_forward must be 'split' or 'batched', got {pair_forward!r}")
    if orthogonality not in ORTHOGONALITY:
        raise LatentLensError(f"unknown orthogonality {orthogonality!r} (use {', '.join(ORTHOGONALITY)})")
    gen = torch_generator(seed, 11)
    k = deformator.directions().shape[0]
    reconstructor.train()
    groups = [{"params": list(reconstructor.parameters()), "lr": lr}]
    train_deformator = train_deformator and any(p.requires_grad for p in deformator.parameters())
    base_dlr = lr if deformator_lr is None else deformator_lr
    if train_deformator:
        groups.append({"params": list(deformator.parameters()), "lr": base_dlr})
    opt = torch.optim.Adam(groups)
    if not discriminator_weight >= 0:
        raise LatentLensError(f"discriminator_weight must be non-negative, got {discriminator_weight}")
    critic = critic_opt = None
    if discriminator_weight > 0 and train_deformator:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed + 17)
            critic = ShiftDiscriminator(infer_channels(generator)).to(device_of(generator))
        critic_opt = torch.optim.Adam(critic.parameters(), lr=lr, betas=(0.5, 0.999))
    history: list[dict] = []
    run_loss = run_acc = run_real = 0.0
    log_every = max(1, n_steps // 50)
    module = getattr(generator, "module", None)
    device = device_of(generator)
    with frozen(generator), _ChannelsLast(module):
        for step in tqdm(range(n_steps), desc=desc, disable=not show_progress, mininterval=1.0):
            z = generator.sample_latents(batch_size, gen).float().to(device)
            idx, eps = (t.to(device) for t in sample_shifts(batch_size, k, shift_scale, min_shift, gen))
            if not train_deformator:
                with torch.no_grad():  # nothing upstream learns: one batched forward without autograd
                    x0, x1 = shifted_pair(generator, z, deformator(idx, eps))
            elif pair_forward == "batched":  # one forward of 2B latents; autograd spans both halves
                x0, x1 = shifted_pair(generator, z, deformator(idx, eps))
            else:  # "split": G(z) needs no gradient, so only the shifted half is back-propagated
                with torch.no_grad():
                    x0 = generator(z)
                x1 = shifted_images(generator, z, deformator(idx, eps))
            logits, eps_hat = reconstructor(x0, x1)
            loss = voynov_loss(logits, eps_hat, idx, eps, shift_weight)
            if critic is not None:
                critic_loss = F.softplus(-critic(x0.detach())).mean() + F.softplus(critic(x1.detach())).mean()
                critic_opt.zero_grad(set_to_none=True)
                critic_loss.backward()
                critic_opt.step()
                realism = F.softplus(-critic(x1)).mean()
                loss = loss + discriminator_weight * realism
                run_real += float(realism.detach())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if train_deformator and orthogonality != "none":
                weight = deformator.weight
                if orthogonality == "nog":
                    nearest_orthogonal_gradient(weight)
                else:
                    opt.param_groups[1]["lr"] = optimal_learning_rate(weight, base_dlr)
            opt.step()
            run_loss += float(loss.detach())
            run_acc += float((logits.argmax(1) == idx).float().mean())
            if (step + 1) % log_every == 0 or step + 1 == n_steps:
                n = (step % log_every) + 1
                record = {"step": step + 1, "loss": run_loss / n, "accuracy": run_acc / n}
                if critic is not None:
                    record["realism_loss"] = run_real / n
                history.append(record)
                log.debug("%s step %d loss %.4f acc %.3f", desc, step + 1, run_loss / n, run_acc / n)
                run_loss = run_acc = run_real = 0.0
    return history


@torch.inference_mode()
def evaluate_reconstructor(
    generator,
    deformator: nn.Module,
    reconstructor: Reconstructor,
    n_samples: int = 2000,
    batch_size: int = 250,
    shift_scale: float = 6.0,
    min_shift: float = 0.5,
    seed: int = 1,
) -> dict:
    """Reconstructor accuracy (RCA) on fresh ``(z, k, eps)`` triples: overall, per direction, shift MAE."""
    gen = torch_generator(seed, 13)
    k = deformator.directions().shape[0]
    reconstructor.eval()
    correct = torch.zeros(k)
    total = torch.zeros(k)
    abs_err = 0.0
    device = device_of(generator)
    for start in range(0, n_samples, batch_size):
        b = min(batch_size, n_samples - start)
        z = generator.sample_latents(b, gen).float().to(device)
        idx, eps = (t.to(device) for t in sample_shifts(b, k, shift_scale, min_shift, gen))
        x0, x1 = shifted_pair(generator, z, deformator(idx, eps))
        logits, eps_hat = reconstructor(x0, x1)
        hit, idx, eps, eps_hat = (logits.argmax(1) == idx).float().cpu(), idx.cpu(), eps.cpu(), eps_hat.cpu()
        correct.index_add_(0, idx, hit)
        total.index_add_(0, idx, torch.ones(b))
        abs_err += float((eps_hat - eps).abs().sum())
    per = correct / total.clamp_min(1)
    return {
        "rca": float(correct.sum() / total.sum()),
        "per_direction_accuracy": per.tolist(),
        "shift_mae": abs_err / n_samples,
        "chance": 1.0 / k,
    }


def device_of(generator) -> torch.device:
    """Where the generator's weights live (the latents, deformator and reconstructor follow); CPU otherwise."""
    device = getattr(generator, "device", None)
    return device if isinstance(device, torch.device) else torch.device("cpu")


def infer_channels(generator) -> int:
    with torch.inference_mode():
        return int(generator(generator.sample_latents(1, torch.Generator().manual_seed(0)).float()).shape[1])


@register("directions", "voynov")
class Voynov(DirectionFinder):
    """Learned directions (Voynov & Babenko 2020) with a linear deformator.

    Parameters
    ----------
    n_directions: ``K`` (default: the latent dimension).
    deformator: ``"ortho"`` (default), ``"proj"`` (unit columns) or ``"linear"``.
    orthogonality: ``"none"``, ``"nog"`` or ``"olr"`` (Song et al.; ``proj``/``linear`` only).
    n_steps, batch_size: training length (paper code: 1e5 steps of 32; a few thousand suffice for small
        generators on CPU).
    shift_scale, min_shift, shift_weight: ``eps ~ U[-6, 6]``, ``|eps| >= 0.5``, ``lambda = 0.25``.
    lr: Adam learning rate of the reconstructor (1e-4); ``deformator_lr`` of the deformator (default: ``lr``).
    reconstructor_width, reconstructor_size: LeNet width multiplier; optional input resize (e.g. 32).
    init: where the deformator starts. ``"identity"``: (near) the coordinate axes, the paper code's default;
        ``"random"``: a random matrix (the code's ``random_init``); ``"sefa"`` / ``"ganspace"``: a warm start
        at those methods' directions; ``"auto"`` (default): ``"sefa"`` when the generator exposes an affine
        first layer, else ``"identity"``. The objective only asks for directions whose effects are easy to
        tell apart; equally distinguishable mixtures (two diagonal translations instead of x and y) score as
        well as the pure factors, so from the coordinate axes the deformator often stays near its start, and
        a warm start at the generator's principal directions aligns with the true ones (``make bench``:
        ``voynov_alignment``); ``"pca"``: the principal axes of sampled latents, for latent spaces that are not
        isotropic (a diffusion model's h-space), where the random start's directions move the images least.
    ordering: ``"effect"`` (default), ``"rca"`` or ``"none"`` (the method itself has no order).
    n_eval: fresh samples for the final per-direction reconstructor accuracy.
    pair_forward: ``"split"`` (default) or ``"batched"`` (see the module docstring).
    discriminator_weight: weight of the realism term (0: off; see the module docstring).
    show_progress: tqdm progress bar.
    random_state: seed (initialisation and sampling).

    Attributes
    ----------
    deformator_, reconstructor_: the trained modules. history_: loss/accuracy every ``n_steps / 50`` steps.
    rca_: reconstructor accuracy on fresh samples after training (``extra["per_direction_accuracy"]``).
    """

    name = "voynov"
    natural_order = False

    def __init__(
        self,
        n_directions: int | None = None,
        deformator: str = "ortho",
        orthogonality: str = "none",
        n_steps: int = 2000,
        batch_size: int = 32,
        shift_scale: float = 6.0,
        min_shift: float = 0.5,
        shift_weight: float = 0.25,
        lr: float = 1e-4,
        deformator_lr: float | None = None,
        reconstructor_width: int = 2,
        reconstructor_size: int | None = None,
        init: str = "auto",
        ordering: str = "effect",
        n_eval: int = 1000,
        pair_forward: str = "split",
        discriminator_weight: float = 0.0,
        show_progress: bool = False,
        random_state: int | None = None,
    ):
        self.n_directions = n_directions
        self.deformator = deformator
        self.orthogonality = orthogonality
        self.n_steps = n_steps
        self.batch_size = batch_size
        self.shift_scale = shift_scale
        self.min_shift = min_shift
        self.shift_weight = shift_weight
        self.lr = lr
        self.deformator_lr = deformator_lr
        self.reconstructor_width = reconstructor_width
        self.reconstructor_size = reconstructor_size
        self.init = init
        self.ordering = ordering
        self.n_eval = n_eval
        self.pair_forward = pair_forward
        self.discriminator_weight = discriminator_weight
        self.show_progress = show_progress
        self.random_state = random_state

    @property
    def orthonormal(self) -> bool:  # what the output promises depends on the deformator variant
        return self.deformator == "ortho"

    def _fit(self, generator, seed: int) -> dict:
        if self.orthogonality != "none" and self.deformator == "ortho":
            raise LatentLensError("orthogonality='nog'/'olr' applies to the 'proj' and 'linear' deformators")
        if self.ordering not in ("none", "effect", "rca"):
            raise LatentLensError(f"unknown ordering {self.ordering!r} (use 'none', 'effect' or 'rca')")
        if int(self.n_steps) < 1 or int(self.batch_size) < 2:
            raise LatentLensError("n_steps must be >= 1 and batch_size >= 2")
        d = generator.latent_dim
        k = self._check_k(d, allow_more=self.deformator != "ortho")
        init, init_basis = self._initial_basis(generator, min(k, d), seed)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            deformator = LinearDeformator(d, k, self.deformator, init == "random", init_basis)
            recon = Reconstructor(infer_channels(generator), k, self.reconstructor_width, self.reconstructor_size)
        device = device_of(generator)
        deformator = deformator.to(device)
        recon = recon.to(device=device, memory_format=torch.channels_last)
        history = train_shift_model(
            generator, deformator, recon, int(self.n_steps), int(self.batch_size), self.shift_scale, self.min_shift,
            self.shift_weight, self.lr, self.deformator_lr, True, self.orthogonality, seed, self.show_progress,
            pair_forward=self.pair_forward, discriminator_weight=float(self.discriminator_weight),
        )  # fmt: skip
        evaluation = evaluate_reconstructor(
            generator, deformator, recon, int(self.n_eval), shift_scale=self.shift_scale, min_shift=self.min_shift,
            seed=seed + 1,
        )  # fmt: skip
        deformator.eval()
        self.deformator_, self.reconstructor_, self.history_ = deformator.cpu(), recon.eval().cpu(), history
        self.rca_ = evaluation["rca"]
        with torch.no_grad():
            raw = deformator.directions().detach().double()
        norms = raw.norm(dim=1)
        basis = raw / norms.clamp_min(1e-12)[:, None]
        return {
            "basis": basis.float(), "scales": norms.float(),
            "extra": {
                "rca_train": evaluation["rca"], "per_direction_accuracy": evaluation["per_direction_accuracy"],
                "shift_mae": evaluation["shift_mae"],
                "final_loss": history[-1]["loss"] if history else math.nan, "init": init,
            },
        }  # fmt: skip

    def _initial_basis(self, generator, k: int, seed: int) -> tuple[str, torch.Tensor | None]:
        """The resolved ``init`` and the ``(<= k, D)`` orthonormal warm-start basis (None for identity/random).
        A first layer narrower than ``k`` gives that many warm-start directions; the rest start at random."""
        if self.init not in VOYNOV_INITS:
            raise LatentLensError(f"unknown init {self.init!r} (use {', '.join(VOYNOV_INITS)})")
        init = self.init
        layer = getattr(generator, "first_layer", None)
        if init == "auto":
            init = "ganspace" if layer is not None and hasattr(generator, "features") else "identity"
        if init in ("identity", "random"):
            return init, None
        from .base import build_finder

        n = k
        if init == "ganspace":
            if layer is None or not hasattr(generator, "features"):
                raise LatentLensError("init='ganspace' needs a generator with a detectable first layer")
            with torch.inference_mode():
                width = generator.features(generator.sample_latents(2, torch_generator(seed, 5)).float(), layer)
            n = min(k, width.flatten(1).shape[1])
        if init == "pca":  # a start needs the leading axes only: 2,000 samples, not PCA's 10,000
            finder = build_finder("ganspace", n_directions=n, layer="latent", n_samples=max(2000, 4 * n), random_state=seed)
        else:
            finder = build_finder(init, n_directions=n, random_state=seed)
        basis = finder._fit(generator, seed)["basis"].double()
        q, _ = torch.linalg.qr(basis.T)  # orthonormalise (GANSpace's regression directions need not be)
        signs = torch.sign((q.T * basis).sum(1, keepdim=True))
        signs[signs == 0] = 1
        return init, (q.T * signs).float()
