"""LatentCLR: directions learned by contrasting the changes they cause (Yüksel et al., ICCV 2021), as DiffEx uses
them in a semantic latent space (Bourou et al., arXiv 2502.09663; code ``colat/``).

``K`` *conditional* directions: for a latent ``z``, direction ``k`` moves it by

    dz_k(z) = alpha * MLP_k(z) / || MLP_k(z) ||          (``NonlinearConditional``: depth 3, BatchNorm + ReLU)

The change is read through features: ``f_k(z) = normalise(F(z + dz_k(z)) - F(z))``, with ``F`` either a
projector MLP trained jointly on the latent (``features="latent"``: DiffEx, whose semantic space has no
generator layer to read; ``F(z)`` of the unshifted latent without gradient) or a named layer of the generator
(``features="<layer>"``: the original LatentCLR on GAN activations). The loss over a batch of ``K x N``
changes (code: ``temp`` 0.5 multiplies the absolute cosine):

    sim_ij = exp(0.5 |f_i . f_j|),   loss = - mean_i log( mean_{j same k, j != i} sim_ij / mean_{j other k} sim_ij )

``accuracy`` is the share of changes whose mean similarity to their own direction's changes beats that to
the others'. Adam 1e-3 with weight decay 1e-3 as in the code. The artifact stores, per direction, the
average unit change ``mean_z dz_k(z) / alpha`` (a global direction, used by traversals, scores and AttFind) and,
in ``extra``, how conditional the direction is (mean cosine of dz_k(z) to that average).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from ..errors import LatentLensError
from ..registry import register
from .base import DirectionFinder, torch_generator
from .deformator import device_of
from .generators import frozen


def _mlp(d_in: int, width: int, d_out: int, depth: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    d = d_in
    for _ in range(depth - 1):
        layers += [nn.Linear(d, width), nn.BatchNorm1d(width), nn.ReLU()]
        d = width
    layers.append(nn.Linear(d, d_out))
    return nn.Sequential(*layers)


class ConditionalDirections(nn.Module):
    """``K`` MLPs ``z -> dz_k(z)`` of norm ``alpha``."""

    def __init__(self, latent_dim: int, n_directions: int, alpha: float = 1.0, width: int = 64, depth: int = 3):
        super().__init__()
        self.alpha = alpha
        self.nets = nn.ModuleList(_mlp(latent_dim, width, latent_dim, depth) for _ in range(n_directions))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """``(K, N, D)`` shifts of the ``N`` latents along each direction."""
        out = torch.stack([net(z) for net in self.nets])
        return self.alpha * out / out.norm(dim=-1, keepdim=True).clamp_min(1e-12)


def contrastive_loss(features: torch.Tensor, temperature: float = 0.5) -> tuple[torch.Tensor, torch.Tensor]:
    """``(loss, accuracy)`` of ``features`` ``(K, N, F)`` (change ``n`` of direction ``k``); see the module doc."""
    k, n, _ = features.shape
    if k < 2 or n < 2:
        raise LatentLensError("the contrastive loss needs at least 2 directions and 2 samples per direction")
    f = F.normalize(features.reshape(k * n, -1), dim=1)
    sim = torch.exp((f @ f.T).abs() * temperature)
    label = torch.arange(k, device=f.device).repeat_interleave(n)
    same = label[:, None] == label[None, :]
    eye = torch.eye(k * n, dtype=torch.bool, device=f.device)
    pos = (sim * (same & ~eye)).sum(1) / (n - 1)
    neg = (sim * ~same).sum(1) / (n * (k - 1))
    return -(pos / neg).log().mean(), (pos > neg).float().mean()


@register("directions", "latentclr")
class LatentCLR(DirectionFinder):
    """Contrastive conditional directions (see the module docstring).

    Parameters
    ----------
    n_directions: ``K`` (default: the latent dimension). alpha: shift length (DiffEx README: 1).
    features: ``"latent"`` (a projector on the latent, DiffEx) or a generator layer name (LatentCLR).
    width, depth: the direction MLPs (and the projector: width -> width -> 128, depth 3).
    n_steps, batch_size, lr, weight_decay, temperature: training (Adam 1e-3, wd 1e-3, temperature 0.5).
    show_progress, random_state.

    Attributes
    ----------
    model_: the trained ConditionalDirections. history_: loss and accuracy. accuracy_: final batch accuracy.
    """

    name = "latentclr"
    natural_order = True

    def __init__(self, n_directions: int | None = None, alpha: float = 1.0, features: str = "latent", width: int = 64,
                 depth: int = 3, n_steps: int = 500, batch_size: int = 32, lr: float = 1e-3, weight_decay: float = 1e-3,
                 temperature: float = 0.5, show_progress: bool = False, random_state: int | None = None):  # fmt: skip
        self.n_directions = n_directions
        self.alpha = alpha
        self.features = features
        self.width = width
        self.depth = depth
        self.n_steps = n_steps
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.temperature = temperature
        self.show_progress = show_progress
        self.random_state = random_state

    def _fit(self, generator, seed: int) -> dict:
        d = generator.latent_dim
        k = self._check_k(d)
        if k < 2 or int(self.batch_size) < 2 or int(self.n_steps) < 1 or not self.alpha > 0:
            raise LatentLensError("latentclr needs n_directions >= 2, batch_size >= 2, n_steps >= 1 and alpha > 0")
        device = device_of(generator)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = ConditionalDirections(d, k, float(self.alpha), int(self.width), int(self.depth)).to(device)
            projector = _mlp(d, int(self.width), 128, 3).to(device) if self.features == "latent" else None
        params = list(model.parameters()) + (list(projector.parameters()) if projector is not None else [])
        opt = torch.optim.Adam(params, lr=self.lr, weight_decay=self.weight_decay)
        gen = torch_generator(seed, 21)
        history, log_every = [], max(1, int(self.n_steps) // 50)
        with frozen(generator):
            for step in tqdm(range(int(self.n_steps)), disable=not self.show_progress, desc="latentclr"):
                z = generator.sample_latents(int(self.batch_size), gen).float().to(device)
                shifted = z[None] + model(z)  # (K, N, D)
                feats = self._features(generator, projector, z, shifted)
                loss, acc = contrastive_loss(feats, self.temperature)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                if (step + 1) % log_every == 0 or step + 1 == int(self.n_steps):
                    history.append({"step": step + 1, "loss": float(loss.detach()), "accuracy": float(acc)})
        model.eval()
        with torch.no_grad():
            z = generator.sample_latents(1024, torch_generator(seed, 22)).float().to(device)
            unit = model(z) / self.alpha  # (K, N, D)
            mean = unit.mean(1)
            basis = mean / mean.norm(dim=1, keepdim=True).clamp_min(1e-12)
            consistency = (unit * basis[:, None]).sum(-1).mean(1)
        self.model_, self.history_ = model.cpu(), history
        self.accuracy_ = history[-1]["accuracy"]
        return {"basis": basis.cpu(), "scores": consistency.cpu(), "score_name": "consistency",
                "extra": {"accuracy": self.accuracy_, "final_loss": history[-1]["loss"],
                          "consistency": consistency.tolist()}}  # fmt: skip

    def _features(self, generator, projector, z, shifted) -> torch.Tensor:
        k, n, d = shifted.shape
        if projector is not None:
            projector.train()
            with torch.no_grad():
                base = projector(z)
            return projector(shifted.reshape(k * n, d)).view(k, n, -1) - base[None]
        with torch.no_grad():
            base = generator.features(z, self.features).flatten(1)
        moved = generator.features(shifted.reshape(k * n, d), self.features).flatten(1)
        return moved.view(k, n, -1) - base[None]
