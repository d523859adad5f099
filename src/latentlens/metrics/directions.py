"""How good is a set of latent directions? RCA, dSprites factor alignment, and post-hoc MIG / DCI.

Three measurements, each computed the same way for every method and for the random / coordinate baselines:

1. **Reconstructor classification accuracy (RCA)** (Voynov & Babenko 2020, §4; research/directions.md §6.1):
   a *fresh* LeNet reconstructor is trained to tell which of the ``K`` fixed directions produced an image pair
   ``(G(z), G(z + eps d_k))`` and is scored on held-out pairs from new ``z``. High RCA means the directions'
   image effects do not overlap. Every method gets the same shift law (unit directions, ``eps ~ U[-6, 6]``,
   ``|eps| >= 0.5``) and the same budget. For speed on CPU the training pairs are generated once (in large
   inference-mode batches, stored at the reconstructor's input size) and reused for a few epochs; the paper
   draws new pairs at every step with Adam 1e-4, we use 1e-3 for the short budget.

2. **Factor alignment on dSprites** (the re-scoring matrix of SeFa / InterFaceGAN, research/directions.md
   §6.3, with a learned predictor for all five factors): a small CNN (:class:`FactorPredictor`) is trained on
   dSprites with its true labels. For direction ``d_k`` and latents ``z`` we predict the factors of
   ``G(z - a d_k)`` and ``G(z + a d_k)`` and measure per factor how much they changed — shape: total variation
   of the predicted class probabilities; scale / posX / posY: absolute difference of the predicted values in
   [0, 1]; orientation: half the distance between the predicted ``(cos 4 theta, sin 4 theta)`` vectors
   (invariant to the square's symmetry; kept at their predicted length, at most 1, so an ill-defined
   orientation counts little, and weighted by how much the shape stayed the same) — each divided by the same change between two random dSprites images, so 1 means "as
   much as a random resample". The ``K x 5`` matrix of mean changes gives each direction a *main factor*
   (argmax), a *purity* (main / sum) and a *magnitude* (main). A factor is *controlled* by a method when some
   direction with that main factor has magnitude >= ``min_effect`` and purity >= ``purity_threshold`` (0.7).

3. **Post-hoc disentanglement** (Khrulkov et al. 2021, §4.1; research/directions.md §4): the representation of
   an image is its latent coordinates along the ``K`` directions, ``E(x) A^T``, scored with MIG and DCI
   (:mod:`latentlens.metrics.mig`, :mod:`latentlens.metrics.dci`) on real dSprites. Khrulkov et al. train one
   encoder per direction set on ``(G(z), z A^T)``; with a linear last layer and orthonormal ``A`` that is the
   encoder of ``z`` followed by ``A^T`` (same least-squares optimum), so :func:`train_latent_encoder` trains one
   encoder ``E(x) ~ z`` per generator and every direction set reuses it. For a VAE the encoder already exists:
   its posterior mean is used (research/directions.md §6.4).

:func:`evaluate_directions` runs all three; :func:`summarize` turns per-seed results into mean +- sd.
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import LatentLensError

log = logging.getLogger(__name__)

FACTOR_NAMES = ("shape", "scale", "orientation", "posX", "posY")
PREDICTOR_VERSION = 3


# ---------------------------------------------------------------------------------------------------------
# 1. RCA
# ---------------------------------------------------------------------------------------------------------


@torch.inference_mode()
def _shift_pairs(generator, basis, n, shift_scale, min_shift, size, seed, batch_size=250):
    from ..directions.deformator import sample_shifts

    gen = torch.Generator().manual_seed(seed)
    k = basis.shape[0]
    x0s, x1s, idxs, epss = [], [], [], []
    for start in range(0, n, batch_size):
        b = min(batch_size, n - start)
        z = generator.sample_latents(b, gen).float()
        idx, eps = sample_shifts(b, k, shift_scale, min_shift, gen)
        imgs = generator(torch.cat([z, z + eps[:, None] * basis[idx]])).float()
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


# ---------------------------------------------------------------------------------------------------------
# 2. dSprites factor predictor and alignment
# ---------------------------------------------------------------------------------------------------------


class FactorPredictor(nn.Module):
    """Small CNN from a 64x64 dSprites image to its factors.

    Outputs: 3 shape logits, then scale, posX, posY in [0, 1] (class / (size - 1)), then the unit vector
    ``(cos 4 theta, sin 4 theta)`` of the orientation.
    """

    def __init__(self, width: int = 16):
        super().__init__()
        w = width
        self.net = nn.Sequential(
            nn.Conv2d(1, w, 4, 2, 1), nn.BatchNorm2d(w), nn.ReLU(),
            nn.Conv2d(w, 2 * w, 4, 2, 1), nn.BatchNorm2d(2 * w), nn.ReLU(),
            nn.Conv2d(2 * w, 4 * w, 4, 2, 1), nn.BatchNorm2d(4 * w), nn.ReLU(),
            nn.Conv2d(4 * w, 4 * w, 4, 2, 1), nn.BatchNorm2d(4 * w), nn.ReLU(),
            nn.Flatten(), nn.Linear(4 * w * 16, 128), nn.ReLU(), nn.Linear(128, 8),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] != 1:
            x = x.mean(1, keepdim=True)
        if x.shape[-1] != 64:
            x = F.interpolate(x, size=(64, 64), mode="bilinear", align_corners=False)
        return self.net(x.contiguous(memory_format=torch.channels_last))

    @torch.inference_mode()
    def predict(self, x: torch.Tensor, batch_size: int = 512) -> dict[str, torch.Tensor]:
        self.eval()
        out = torch.cat([self(x[s : s + batch_size].float()) for s in range(0, len(x), batch_size)])
        # the orientation vector is kept at its predicted length (clipped to 1): for a sprite whose orientation
        # is ill-defined (a round blob) the regression shrinks it towards 0, so its jitter counts for little
        angle = out[:, 6:8] / out[:, 6:8].norm(dim=1, keepdim=True).clamp_min(1.0)
        return {"shape": out[:, :3].softmax(1), "scale": out[:, 3], "posX": out[:, 4], "posY": out[:, 5],
                "orientation": angle}  # fmt: skip


def _targets(factors: np.ndarray) -> dict[str, torch.Tensor]:
    f = torch.as_tensor(factors, dtype=torch.long)
    theta = f[:, 2].double() / 39 * 2 * math.pi  # dSprites orientation values: linspace(0, 2 pi, 40)
    return {
        "shape": f[:, 0],
        "reg": torch.stack([f[:, 1] / 5.0, f[:, 3] / 31.0, f[:, 4] / 31.0], 1).float(),
        "angle": torch.stack([torch.cos(4 * theta), torch.sin(4 * theta)], 1).float(),
    }


def degrade(x: torch.Tensor, gen: torch.Generator, p: float = 0.7) -> torch.Tensor:
    """Make clean dSprites images look like generator outputs: for a fraction ``p`` of the batch, a Gaussian
    blur (sigma ~ U[0.3, 2] px), contrast ~ U[0.5, 1] and pixel noise (sd ~ U[0, 0.08]), clipped to [0, 1].

    A VAE decoder's Bernoulli means are blurry and a GAN's outputs grey and noisy; a predictor trained only on
    crisp binary sprites misreads them (shape accuracy drops to chance on beta-VAE reconstructions)."""
    b = x.shape[0]
    pick = torch.rand(b, generator=gen) < p
    if not bool(pick.any()):
        return x
    xs = x[pick]
    n = xs.shape[0]
    sigma = 0.3 + 1.7 * torch.rand(n, generator=gen)
    r = torch.arange(-4, 5, dtype=torch.float32)
    k1 = torch.exp(-(r[None] ** 2) / (2 * sigma[:, None] ** 2))
    k1 = k1 / k1.sum(1, keepdim=True)
    kernel = (k1[:, :, None] * k1[:, None, :])[:, None]  # (n, 1, 9, 9), one kernel per image
    blurred = F.conv2d(xs.reshape(1, n, *xs.shape[-2:]), kernel, padding=4, groups=n).reshape(xs.shape)
    contrast = 0.5 + 0.5 * torch.rand(n, 1, 1, 1, generator=gen)
    noise = torch.randn(blurred.shape, generator=gen) * (0.08 * torch.rand(n, 1, 1, 1, generator=gen))
    out = x.clone()
    out[pick] = (blurred * contrast + noise).clamp(0, 1)
    return out


def _training_batch(data, n: int, rng: np.random.Generator, mix_fraction: float = 0.3):
    """Sprites with soft targets: a fraction ``mix_fraction`` are blends ``l x_a + (1 - l) x_b`` of two sprites
    that share scale and position but differ in shape and orientation, with targets blended alike.

    Generators (a VAE's decoder above all) often draw shapes *between* the three classes; trained on crisp
    sprites only, the predictor labels such blobs confidently and flips the label at the slightest change,
    which would read as a "shape" effect of every direction. Blends teach it to answer them with mixed
    probabilities and a short orientation vector."""
    factors = data.sample_factors(n, rng)
    x = data.images(factors)
    t = _targets(factors)
    shape = F.one_hot(t["shape"], 3).float()
    angle = t["angle"]
    m = int(round(mix_fraction * n))
    if m:
        other = factors[:m].copy()
        other[:, 0] = (other[:, 0] + rng.integers(1, 3, size=m)) % 3
        other[:, 2] = rng.integers(0, 40, size=m)
        lam = torch.from_numpy(rng.uniform(0, 1, size=m)).float()
        t2 = _targets(other)
        x[:m] = lam[:, None, None, None] * x[:m] + (1 - lam[:, None, None, None]) * data.images(other)
        shape[:m] = lam[:, None] * shape[:m] + (1 - lam[:, None]) * F.one_hot(t2["shape"], 3).float()
        angle[:m] = lam[:, None] * angle[:m] + (1 - lam[:, None]) * t2["angle"]
    return x, shape, t["reg"], angle


def train_factor_predictor(
    n_steps: int = 2500, batch_size: int = 64, lr: float = 2e-3, random_state: int = 0, show_progress: bool = False
) -> FactorPredictor:
    """Train :class:`FactorPredictor` on dSprites rendered on the fly (true labels; blended sprites, see
    :func:`_training_batch`, and :func:`degrade` augmentation); a few minutes on one CPU core."""
    from tqdm.auto import tqdm

    from ..data.dsprites import DSprites

    data = DSprites()
    rng = np.random.default_rng(random_state)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(random_state)
        model = FactorPredictor().to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=n_steps, pct_start=0.1)
    model.train()
    aug = torch.Generator().manual_seed(random_state + 5)
    for _ in tqdm(range(n_steps), desc="factor predictor", disable=not show_progress, mininterval=1.0):
        x, shape_target, reg, angle = _training_batch(data, batch_size, rng)
        x = degrade(x, aug)
        out = model(x)
        loss = (
            -(shape_target * out[:, :3].log_softmax(1)).sum(1).mean()
            + 10 * F.mse_loss(out[:, 3:6], reg)
            + F.mse_loss(out[:, 6:8], angle)
        )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    return model.eval()


def predictor_accuracy(model: FactorPredictor, n: int = 2000, random_state: int = 123) -> dict:
    """Held-out quality of the predictor on clean and on degraded images: shape accuracy, and mean absolute
    errors in class units."""
    from ..data.dsprites import DSprites

    x, factors = DSprites().sample(n, np.random.default_rng(random_state))
    t = _targets(factors)
    out = {}
    for tag, images in (("", x), ("degraded_", degrade(x, torch.Generator().manual_seed(random_state), p=1.0))):
        p = model.predict(images)
        ang = (p["orientation"] - t["angle"]).norm(dim=1) / 2
        out.update({
            f"{tag}shape_accuracy": float((p["shape"].argmax(1) == t["shape"]).float().mean()),
            f"{tag}scale_mae_classes": float((p["scale"] - t["reg"][:, 0]).abs().mean() * 5),
            f"{tag}posX_mae_classes": float((p["posX"] - t["reg"][:, 1]).abs().mean() * 31),
            f"{tag}posY_mae_classes": float((p["posY"] - t["reg"][:, 2]).abs().mean() * 31),
            f"{tag}orientation_chord": float(ang.mean()),
        })  # fmt: skip
    return out


def default_cache_dir() -> Path:
    return Path(os.environ.get("LATENTLENS_CACHE", Path.home() / ".cache" / "latentlens"))


def load_or_train_factor_predictor(cache_dir=None, show_progress: bool = False, **train_kwargs) -> FactorPredictor:
    """The cached predictor from ``cache_dir`` (default ``$LATENTLENS_CACHE`` or ``~/.cache/latentlens``),
    trained and stored there (safetensors) on first use."""
    from ..io import load_state_into, load_tensors, save_tensors

    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    path = cache_dir / f"dsprites_factor_predictor_v{PREDICTOR_VERSION}.safetensors"
    model = FactorPredictor()
    if path.is_file():
        try:
            load_state_into(model, load_tensors(path), path)
            return model.eval()
        except LatentLensError as exc:
            log.warning("retraining the factor predictor: %s", exc)
    model = train_factor_predictor(show_progress=show_progress, **train_kwargs)
    try:
        save_tensors(path, model.state_dict(), {"kind": "dsprites_factor_predictor", "version": PREDICTOR_VERSION})
    except OSError as exc:  # a read-only cache is not fatal
        log.warning("could not cache the factor predictor at %s: %s", path, exc)
    return model


def _changes(p0: dict, p1: dict) -> torch.Tensor:
    """Per-sample change of each factor between two predictions -> (N, 5) in FACTOR_NAMES order.

    An orientation is only comparable between two sprites of the same shape (a heart's angle and a square's
    angle have different meanings), so the orientation change is weighted by ``1 - TV(shape)``."""
    shape = 0.5 * (p0["shape"] - p1["shape"]).abs().sum(1)
    return torch.stack([
        shape,
        (p0["scale"] - p1["scale"]).abs(),
        (1 - shape) * (p0["orientation"] - p1["orientation"]).norm(dim=1) / 2,
        (p0["posX"] - p1["posX"]).abs(),
        (p0["posY"] - p1["posY"]).abs(),
    ], 1)  # fmt: skip


def reference_changes(predictor: FactorPredictor, n: int = 2000, random_state: int = 321) -> torch.Tensor:
    """Mean predicted change of each factor between two independent dSprites images (the unit of alignment;
    for orientation, two independent images of the same shape)."""
    from ..data.dsprites import DSprites

    data = DSprites()
    rng = np.random.default_rng(random_state)
    fa, fb = data.sample_factors(n, rng), data.sample_factors(n, rng)
    pa = predictor.predict(data.images(fa))
    ref = _changes(pa, predictor.predict(data.images(fb))).mean(0)
    fb[:, 0] = fa[:, 0]  # orientation is compared between sprites of the same shape (see _changes)
    ref[2] = _changes(pa, predictor.predict(data.images(fb)))[:, 2].mean()
    return ref.clamp_min(1e-6)


@torch.inference_mode()
def factor_effects(
    generator, directions, predictor: FactorPredictor, *, n_samples: int = 64, amplitude: float = 1.0,
    reference: torch.Tensor | None = None, random_state: int = 0, batch_size: int = 512,
) -> torch.Tensor:  # fmt: skip
    """``(K, 5)`` mean normalised change of each dSprites factor between ``G(z - a d_k)`` and ``G(z + a d_k)``."""
    from ..directions.generators import as_generator

    gen = as_generator(generator)
    basis = torch.as_tensor(getattr(directions, "basis", directions), dtype=torch.float32)
    basis = basis / basis.norm(dim=1, keepdim=True).clamp_min(1e-12)
    k, d = basis.shape
    z = gen.sample_latents(n_samples, torch.Generator().manual_seed(random_state + 4242)).float()
    lat = z[:, None, None, :] + amplitude * torch.tensor([-1.0, 1.0])[None, None, :, None] * basis[None, :, None, :]
    lat = lat.reshape(-1, d)  # (n, K, 2) rows
    imgs = torch.cat([gen(lat[s : s + batch_size]).float() for s in range(0, len(lat), batch_size)])
    p = predictor.predict(imgs)
    p0 = {key: v[0::2] for key, v in p.items()}
    p1 = {key: v[1::2] for key, v in p.items()}
    change = _changes(p0, p1).view(n_samples, k, len(FACTOR_NAMES)).mean(0)
    if reference is not None:
        change = change / reference
    return change


def alignment_summary(effects, purity_threshold: float = 0.7, min_effect: float = 0.15) -> dict:
    """Main factor, purity and magnitude per direction; controlled factors per method (see module doc)."""
    e = torch.as_tensor(effects, dtype=torch.float64).clamp_min(0)
    main = e.argmax(1)
    magnitude = e.max(1).values
    purity = magnitude / e.sum(1).clamp_min(1e-12)
    best: dict[str, float] = {}
    best_dir: dict[str, int] = {}
    for k in range(e.shape[0]):
        if magnitude[k] < min_effect:
            continue
        name = FACTOR_NAMES[int(main[k])]
        if float(purity[k]) > best.get(name, -1.0):
            best[name], best_dir[name] = float(purity[k]), k
    controlled = sorted(n for n, p in best.items() if p >= purity_threshold)
    active = magnitude >= min_effect
    return {
        "effects": e.tolist(),
        "factor_names": list(FACTOR_NAMES),
        "main_factor": [FACTOR_NAMES[int(i)] for i in main],
        "purity_per_direction": purity.tolist(),
        "magnitude_per_direction": magnitude.tolist(),
        "best_purity_per_factor": best,
        "best_direction_per_factor": best_dir,
        "controlled_factors": controlled,
        "factors_controlled": len(controlled),
        "purity": float(np.mean(list(best.values()))) if best else 0.0,
        "mean_active_purity": float(purity[active].mean()) if bool(active.any()) else 0.0,
        "n_active": int(active.sum()),
        "purity_threshold": purity_threshold,
        "min_effect": min_effect,
    }


# ---------------------------------------------------------------------------------------------------------
# 3. Khrulkov-style post-hoc disentanglement
# ---------------------------------------------------------------------------------------------------------


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
    """MIG and DCI of the codes ``latents @ A^T`` (Khrulkov et al.'s representation) via the metrics harness."""
    from .dci import compute_dci
    from .mig import compute_mig

    basis = np.asarray(getattr(directions, "basis", directions), dtype=np.float64)
    basis = basis / np.linalg.norm(basis, axis=1, keepdims=True)
    c_train, c_test = latents_train @ basis.T, latents_test @ basis.T
    mig = compute_mig(c_train, factors_train)
    dci = compute_dci(c_train, factors_train, c_test, factors_test, random_state=random_state, gbt_params=gbt_params)
    return {
        "mig": float(mig["mig"]),
        "dci": float(dci["dci_disentanglement"]),
        "dci_completeness": float(dci["dci_completeness"]),
        "dci_informativeness": float(dci["dci_informativeness"]),
    }


# ---------------------------------------------------------------------------------------------------------
# Orchestration: one direction set, then mean +- sd over seeds
# ---------------------------------------------------------------------------------------------------------


def evaluate_directions(
    generator, directions, *, predictor: FactorPredictor | None = None, reference: torch.Tensor | None = None,
    posthoc: tuple | None = None, rca_kwargs: dict | None = None, alignment_kwargs: dict | None = None,
    posthoc_kwargs: dict | None = None, random_state: int = 0,
) -> dict:  # fmt: skip
    """RCA (always), factor alignment (when a predictor is given) and post-hoc MIG/DCI (when ``posthoc`` =
    ``(latents_train, factors_train, latents_test, factors_test)`` is given) of one direction set."""
    out: dict = {}
    rca = reconstructor_accuracy(generator, directions, random_state=random_state, **(rca_kwargs or {}))
    out["rca"] = rca["rca"]
    out["rca_detail"] = rca
    if predictor is not None:
        akw = dict(alignment_kwargs or {})
        summary_kw = {k: akw.pop(k) for k in ("purity_threshold", "min_effect") if k in akw}
        eff = factor_effects(generator, directions, predictor, reference=reference, random_state=random_state, **akw)
        out["alignment"] = alignment_summary(eff, **summary_kw)
        out["factors_controlled"] = out["alignment"]["factors_controlled"]
        out["purity"] = out["alignment"]["purity"]
    if posthoc is not None:
        scores = posthoc_scores(*posthoc, directions, random_state=random_state, **(posthoc_kwargs or {}))
        out.update(scores)
    return out


SUMMARY_KEYS = ("rca", "factors_controlled", "purity", "mig", "dci")


def summarize(per_seed: list[dict], keys=SUMMARY_KEYS) -> dict:
    """``{key: {"mean", "sd", "values"}}`` over seeds (sample sd, ddof=1; 0 for one seed)."""
    out = {}
    for key in keys:
        vals = [float(r[key]) for r in per_seed if key in r and r[key] is not None]
        if not vals:
            continue
        arr = np.asarray(vals)
        out[key] = {
            "mean": float(arr.mean()),
            "sd": float(arr.std(ddof=1)) if len(arr) > 1 else 0.0,
            "values": vals,
        }
    return out
