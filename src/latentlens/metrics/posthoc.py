"""Post-hoc disentanglement of latent directions: MIG and DCI of the codes along them.

**Post-hoc disentanglement** (Khrulkov et al. 2021, §4.1; research/directions.md §4): the representation of
an image is its latent coordinates along the ``K`` directions, ``E(x) A^T``, scored with MIG and DCI
(:mod:`latentlens.metrics.mig`, :mod:`latentlens.metrics.dci`) on real dSprites. Khrulkov et al. train one
encoder per direction set on ``(G(z), z A^T)``; with a linear last layer and orthonormal ``A`` that is the
encoder of ``z`` followed by ``A^T`` (same least-squares optimum), so :func:`train_latent_encoder` trains one
encoder ``E(x) ~ z`` per generator and every direction set reuses it. For a VAE the encoder already exists:
its posterior mean is used (research/directions.md §6.4).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import LatentLensError


class LatentEncoder(nn.Module):
    """The 4-convolution encoder of Locatello et al. (2019, Table 1) with a linear head to ``latent_dim``."""

    def __init__(self, in_channels: int, latent_dim: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, 32, 4, 2, 1), nn.ReLU(), nn.Conv2d(32, 32, 4, 2, 1), nn.ReLU(),
            nn.Conv2d(32, 64, 4, 2, 1), nn.ReLU(), nn.Conv2d(64, 64, 4, 2, 1), nn.ReLU(),
            nn.Flatten(), nn.Linear(64 * 16, 256), nn.ReLU(), nn.Linear(256, latent_dim),
        )  # fmt: skip

    def forward(self, x):
        if x.shape[-1] != 64:
            x = F.interpolate(x, size=(64, 64), mode="bilinear", align_corners=False)
        return self.net(x.contiguous(memory_format=torch.channels_last))


def train_latent_encoder(
    generator, *, n_train: int = 10_000, epochs: int = 3, batch_size: int = 64, lr: float = 1e-3,
    random_state: int = 0, show_progress: bool = False,
) -> LatentEncoder:  # fmt: skip
    """Train ``E(G(z)) ~ z`` (MSE) on ``n_train`` synthetic pairs generated once (Khrulkov et al. §4.1)."""
    from tqdm.auto import tqdm

    from ..directions.generators import as_generator

    gen = as_generator(generator)
    g = torch.Generator().manual_seed(random_state + 99)
    z = gen.sample_latents(n_train, g).float()
    with torch.inference_mode():
        x = torch.cat([gen(z[s : s + 500]).float() for s in range(0, n_train, 500)]).clone()
    z = z.clone()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(random_state)
        enc = LatentEncoder(x.shape[1], gen.latent_dim).to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(enc.parameters(), lr=lr)
    steps = epochs * (n_train // batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=max(steps, 1), pct_start=0.1)
    enc.train()
    bar = tqdm(total=steps, desc="latent encoder", disable=not show_progress, mininterval=1.0)
    for _ in range(epochs):
        perm = torch.randperm(n_train, generator=g)
        for s in range(0, n_train - batch_size + 1, batch_size):
            sel = perm[s : s + batch_size]
            loss = F.mse_loss(enc(x[sel]), z[sel])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            bar.update()
    bar.close()
    return enc.eval()


def latent_function(model, encoder: nn.Module | None = None):
    """``images -> latent estimates (N, D)``: the VAE's posterior mean, or a trained :class:`LatentEncoder`."""
    if encoder is not None:
        net = encoder
    elif hasattr(model, "encode"):

        def net(x):
            return model.encode(x)[0]
    else:
        raise LatentLensError("post-hoc MIG/DCI needs a VAE encoder or a trained latent encoder")

    @torch.inference_mode()
    def fn(x):
        return torch.cat([net(x[s : s + 512].float()) for s in range(0, len(x), 512)]).float()

    return fn


def dsprites_latents(latent_fn, n: int, random_state: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Latent estimates of ``n`` uniform dSprites samples and their factor classes."""
    from ..data.dsprites import DSprites

    data = DSprites()
    factors = data.sample_factors(n, np.random.default_rng(random_state))
    lat = np.concatenate([latent_fn(data.images(factors[s : s + 1024])).numpy() for s in range(0, n, 1024)])
    return lat, factors


def posthoc_scores(latents_train, factors_train, latents_test, factors_test, directions, *,
                   gbt_params: dict | None = None, random_state: int = 0) -> dict:  # fmt: skip
    """MIG and DCI of each image's coordinates along the directions (Khrulkov et al.'s representation).

    The coordinates of a latent ``z`` along unit directions ``A`` (K x D) are the least-squares ``c`` with
    ``c A ~ z``, i.e. ``z pinv(A)``; for orthonormal rows that is ``z A^T``, but for the non-orthogonal bases of
    the ``proj``/``linear`` deformators ``z A^T`` would mix the directions' coordinates."""
    from .dci import compute_dci
    from .mig import compute_mig

    basis = np.asarray(getattr(directions, "basis", directions), dtype=np.float64)
    basis = basis / np.linalg.norm(basis, axis=1, keepdims=True)
    project = np.linalg.pinv(basis)  # (D, K); equals basis.T for orthonormal rows
    c_train, c_test = latents_train @ project, latents_test @ project
    mig = compute_mig(c_train, factors_train)
    dci = compute_dci(c_train, factors_train, c_test, factors_test, random_state=random_state, gbt_params=gbt_params)
    return {
        "mig": float(mig["mig"]),
        "dci": float(dci["dci_disentanglement"]),
        "dci_completeness": float(dci["dci_completeness"]),
        "dci_informativeness": float(dci["dci_informativeness"]),
    }
