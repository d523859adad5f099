"""Reconstructor classification accuracy (RCA) of a fixed set of latent directions.

**Reconstructor classification accuracy (RCA)** (Voynov & Babenko 2020, §4; research/directions.md §6.1):
a *fresh* LeNet reconstructor is trained to tell which of the ``K`` fixed directions produced an image pair
``(G(z), G(z + eps d_k))`` and is scored on held-out pairs from new ``z``. High RCA means the directions'
image effects do not overlap. Every method gets the same shift law (unit directions, ``eps ~ U[-6, 6]``,
``|eps| >= 0.5``) and the same budget. For speed on CPU the training pairs are generated once (in large
inference-mode batches, stored at the reconstructor's input size) and reused for a few epochs; the paper
draws new pairs at every step with Adam 1e-4, we use 1e-3 for the short budget.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


@torch.inference_mode()
def _shift_pairs(generator, basis, n, shift_scale, min_shift, size, seed, batch_size=250):
    from ..directions.deformator import sample_shifts
    from ..directions.base import shifted_pair

    gen = torch.Generator().manual_seed(seed)
    k = basis.shape[0]
    x0s, x1s, idxs, epss = [], [], [], []
    for start in range(0, n, batch_size):
        b = min(batch_size, n - start)
        z = generator.sample_latents(b, gen).float()
        idx, eps = sample_shifts(b, k, shift_scale, min_shift, gen)
        imgs = torch.cat(shifted_pair(generator, z, eps[:, None] * basis[idx])).float().cpu()  # the reconstructor trains on CPU
        if imgs.shape[-1] != size:
            imgs = F.interpolate(imgs, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
        x0, x1 = imgs.chunk(2)
        x0s.append(x0.clone())
        x1s.append(x1.clone())
        idxs.append(idx)
        epss.append(eps)
    return torch.cat(x0s), torch.cat(x1s), torch.cat(idxs), torch.cat(epss)


def reconstructor_accuracy(
    generator,
    directions,
    *,
    n_train: int = 3000,
    n_eval: int = 1000,
    epochs: int = 4,
    batch_size: int = 64,
    lr: float = 1e-3,
    input_size: int = 32,
    width: int = 2,
    shift_scale: float = 6.0,
    min_shift: float = 0.5,
    random_state: int = 0,
) -> dict:
    """RCA of a fixed direction set: a fresh reconstructor trained on ``n_train`` pairs, scored on ``n_eval``
    held-out pairs (new latents). ``directions`` is a :class:`~latentlens.directions.base.Directions` or a
    ``(K, D)`` tensor (rows are scaled to unit norm)."""
    from ..directions.deformator import Reconstructor, voynov_loss
    from ..directions.generators import as_generator

    gen = as_generator(generator)
    basis = getattr(directions, "basis", directions)
    basis = torch.as_tensor(basis, dtype=torch.float32)
    basis = basis / basis.norm(dim=1, keepdim=True).clamp_min(1e-12)
    k = basis.shape[0]
    x0, x1, idx, eps = _shift_pairs(gen, basis, n_train, shift_scale, min_shift, input_size, 2 * random_state + 1)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(random_state)
        recon = Reconstructor(x0.shape[1], k, width, input_size).to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(recon.parameters(), lr=lr)
    order_gen = torch.Generator().manual_seed(random_state + 17)
    recon.train()
    for _ in range(epochs):
        perm = torch.randperm(n_train, generator=order_gen)
        for start in range(0, n_train - batch_size + 1, batch_size):
            sel = perm[start : start + batch_size]
            logits, eps_hat = recon(x0[sel], x1[sel])
            loss = voynov_loss(logits, eps_hat, idx[sel], eps[sel])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    recon.eval()
    e0, e1, eidx, eeps = _shift_pairs(gen, basis, n_eval, shift_scale, min_shift, input_size, 2 * random_state + 2)
    with torch.inference_mode():
        logits, eps_hat = recon(e0, e1)
    hit = (logits.argmax(1) == eidx).float()
    per = torch.zeros(k).index_add_(0, eidx, hit) / torch.zeros(k).index_add_(0, eidx, torch.ones_like(hit)).clamp_min(1)
    return {
        "rca": float(hit.mean()),
        "per_direction_accuracy": per.tolist(),
        "shift_mae": float((eps_hat - eeps).abs().mean()),
        "chance": 1.0 / k,
        "protocol": {"n_train": n_train, "n_eval": n_eval, "epochs": epochs, "lr": lr, "input_size": input_size},
    }
