"""Space-filling vector quantization (Vali & Bäckström, Interspeech 2023; TMLR 2025 for GAN latent spaces).

SFVQ maps a latent ``x`` onto a piece-wise linear curve through ``K = 2^B`` corner points ``c_0 .. c_{K-1}``
instead of onto the nearest of ``K`` isolated code vectors, so that neighbouring indices hold similar
content and the continuous curve index ``k + lambda`` is a 1-D ordering of the latent distribution.

Training (Interspeech 2023, Eqs. 2-3): at every step draw ``lambda_j ~ U[0, 1)`` for each segment, build the
*dithered* codebook ``d_j = (1 - lambda_j) c_j + lambda_j c_{j+1}``, assign each ``x`` to its nearest
``d_j`` and minimise ``||x - d_j||^2`` (mean over the batch and dimensions). The gradient reaches both
corners directly, so no straight-through estimator is needed. For joint training with other modules,
:meth:`SpaceFillingVQ.noise_substitution` is NSVQ's ``x + ||x - x_hat|| v / ||v||`` (Eq. 4). Corners start
as the means of four equal groups of the data sorted by L2 norm; the bitrate grows 2 -> B, and each growth
duplicates every corner as two points a hundredth of a segment apart along the curve (left half of the
curve ``(j, j + 0.01)``, right half ``(j - 0.01, j)``), which training then separates. Adam (1e-3, batch 64)
is re-created at every bitrate, with the step schedule of the reference code (learning rate halved at 60 %
and 80 % of each stage's epochs).

Inference (Eq. 5): the nearest corner ``k*`` (kept in 1 .. K-2), the projections of ``x`` onto the two
segments around it with ``lambda* = (c_{i+1} - c_i)^T (x - c_i) / ||c_{i+1} - c_i||^2`` clipped to [0, 1],
and the one with the smaller error: index ``i + lambda*`` and point ``(1 - lambda*) c_i + lambda* c_{i+1}``.

Speed: each step's gradient is written in closed form (the loss is a sum of squares of a linear function of
two corners), and the step and Adam run in NumPy on the whole codebook: no autograd graph and no torch
dispatch per step, whose fixed cost dominates steps this small. The reference loop (autograd, a Python step
per batch) gives the same updates.
"""

from __future__ import annotations


import numpy as np
import torch

from ..errors import LatentLensError
from ..registry import register
from .base import DirectionFinder

EXTENSION_EPS = 0.01


def norm_sorted_init(x: torch.Tensor, k: int = 4) -> torch.Tensor:
    """``k`` corners: the means of ``k`` equal groups of the data sorted by L2 norm."""
    order = torch.argsort(x.norm(dim=1))
    return torch.stack([part.mean(0) for part in torch.tensor_split(x[order], k)])


def decode(codebook: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Points on the curve at continuous indices ``k + lambda`` (clamped to the curve)."""
    index = torch.as_tensor(index, dtype=codebook.dtype).clamp(0, len(codebook) - 1)
    low = index.floor().long().clamp(max=len(codebook) - 2)
    frac = (index - low.to(index.dtype))[..., None]
    return (1 - frac) * codebook[low] + frac * codebook[low + 1]


def extend_codebook(codebook: torch.Tensor, eps: float = EXTENSION_EPS) -> torch.Tensor:
    """Double the corners: each corner becomes two points ``eps`` of a segment apart along the curve."""
    k = len(codebook)
    index = []
    for j in range(k):
        index += [j, j + eps] if j < k // 2 else [j - eps, j]
    return decode(codebook, torch.tensor(index, dtype=codebook.dtype))


def project(x: torch.Tensor, codebook: torch.Tensor, batch_size: int = 4096,
            mode: str = "paper") -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """``(index k + lambda, projected point)`` of every row of ``x`` on the curve.

    ``mode="paper"`` (Eq. 5, the reference code's inference): the better of the two segments around the
    nearest corner. ``mode="exact"``: the nearest point of the whole curve (every segment); it differs from
    the paper's when a point is closer to a long segment whose corners are both far away."""
    k = len(codebook)
    if k < 3:
        raise LatentLensError("projection needs a curve of at least 3 corners")
    if mode not in ("paper", "exact"):
        raise LatentLensError(f"mode must be 'paper' or 'exact', got {mode!r}")
    indices, points = [], []
    for start in range(0, len(x), batch_size):
        xb = x[start : start + batch_size]
        if mode == "exact":
            idx, pt = _project_all_segments(xb, codebook)
            indices.append(idx)
            points.append(pt)
            continue
        nearest = torch.cdist(xb, codebook).argmin(1).clamp(1, k - 2)
        best_err = best_idx = best_pt = None
        for first in (nearest - 1, nearest):
            a, b = codebook[first], codebook[first + 1]
            seg = b - a
            lam = ((seg * (xb - a)).sum(1) / seg.pow(2).sum(1).clamp_min(1e-12)).clamp(0, 1)
            pt = a + lam[:, None] * seg
            err = (xb - pt).pow(2).sum(1)
            idx = first.to(x.dtype) + lam
            if best_err is None:
                best_err, best_idx, best_pt = err, idx, pt
            else:
                better = err < best_err
                best_err = torch.where(better, err, best_err)
                best_idx = torch.where(better, idx, best_idx)
                best_pt = torch.where(better[:, None], pt, best_pt)
        indices.append(best_idx)
        points.append(best_pt)
    return torch.cat(indices), torch.cat(points)


def _project_all_segments(x: torch.Tensor, codebook: torch.Tensor, chunk: int = 256):
    a, seg = codebook[:-1], codebook[1:] - codebook[:-1]  # (K-1, D)
    seg_sq = seg.pow(2).sum(1).clamp_min(1e-12)
    idx_out, pt_out = [], []
    for s in range(0, len(x), chunk):
        xb = x[s : s + chunk]
        lam = (((xb[:, None, :] - a[None]) * seg[None]).sum(2) / seg_sq).clamp(0, 1)  # (B, K-1)
        pts = a[None] + lam[..., None] * seg[None]
        best = (xb[:, None, :] - pts).pow(2).sum(2).argmin(1)
        rows = torch.arange(len(xb))
        idx_out.append(best.to(x.dtype) + lam[rows, best])
        pt_out.append(pts[rows, best])
    return torch.cat(idx_out), torch.cat(pt_out)


def dithered_step(codebook: np.ndarray, x: np.ndarray, lam: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """One dithered training forward: ``(loss, gradient w.r.t. the codebook, segment of each x)``.

    ``loss = mean ||x - (1 - l_j) c_j - l_j c_{j+1}||^2`` over the batch and dimensions (Eq. 3) for the
    dither ``lam`` (one ``U[0, 1)`` draw per segment), with the assignment to the nearest dithered point held
    fixed (as autograd treats the argmin). NumPy: at batch 64 and a few dozen corners every operation is tiny,
    and NumPy's per-call cost is a fraction of torch's."""
    starts, steps = codebook[:-1], codebook[1:] - codebook[:-1]
    dithered = starts + lam[:, None] * steps
    seg = ((dithered * dithered).sum(1) - 2.0 * x @ dithered.T).argmin(1)  # ||x||^2 does not move the argmin
    resid = dithered[seg] - x  # x_hat - x
    n, d = x.shape
    g = resid * (2.0 / (n * d))
    weights = np.zeros((n, len(codebook)), dtype=codebook.dtype)
    rows, l = np.arange(n), lam[seg]
    weights[rows, seg] = 1.0 - l
    weights[rows, seg + 1] = l
    return float((resid * resid).mean()), weights.T @ g, seg


class Adam:
    """Adam (Kingma & Ba 2015, Algorithm 1) on one NumPy array, in ``torch.optim.Adam``'s arithmetic
    (bias corrections applied to the step size and to ``sqrt(v)``), so that it takes the same steps."""

    def __init__(self, shape, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        self.lr, (self.beta1, self.beta2), self.eps = lr, betas, eps
        self.m, self.v, self.t = np.zeros(shape), np.zeros(shape), 0

    def step(self, param: np.ndarray, grad: np.ndarray) -> None:
        """Update ``param`` in place."""
        self.t += 1
        self.m *= self.beta1
        self.m += (1 - self.beta1) * grad
        self.v *= self.beta2
        self.v += (1 - self.beta2) * grad * grad
        denom = np.sqrt(self.v) / np.sqrt(1 - self.beta2**self.t) + self.eps
        param -= (self.lr / (1 - self.beta1**self.t)) * self.m / denom


def perplexity(counts: torch.Tensor) -> float:
    p = counts.double() / counts.sum().clamp_min(1)
    nz = p[p > 0]
    return float(torch.exp(-(nz * nz.log()).sum()))


class SpaceFillingVQ:
    """Space-filling vector quantizer (module docstring), scikit-learn style.

    Parameters
    ----------
    bits: final bitrate ``B`` (``2^B`` corners; grown from 2).
    epochs_per_bitrate: passes over the data at each bitrate (reference code: 5).
    batch_size: 64 as in the reference code. lr: Adam learning rate (1e-3).
    random_state: seeds the shuffles and the dithering.

    Attributes
    ----------
    codebook_: ``(2^B, D)`` corners in curve order; codebooks_: the corners at every bitrate (a hierarchy).
    history_: per bitrate the perplexity of segment usage, unused corners and the curve's mean squared error.
    """

    def __init__(self, bits: int = 6, epochs_per_bitrate: int = 5, batch_size: int = 64, lr: float = 1e-3,
                 random_state: int | None = 0):  # fmt: skip
        self.bits = bits
        self.epochs_per_bitrate = epochs_per_bitrate
        self.batch_size = batch_size
        self.lr = lr
        self.random_state = random_state

    def fit(self, x, show_progress: bool = False) -> "SpaceFillingVQ":
        from tqdm.auto import tqdm

        x = torch.as_tensor(np.asarray(x), dtype=torch.float32)
        if x.ndim != 2 or len(x) < 8:
            raise LatentLensError(f"SFVQ needs (n >= 8, D) latents, got shape {tuple(x.shape)}")
        if not torch.isfinite(x).all():
            raise LatentLensError("SFVQ: the latents contain NaN or infinite values")
        if not (isinstance(self.bits, int) and 2 <= self.bits <= 14):
            raise LatentLensError(f"bits must be a whole number in [2, 14], got {self.bits!r}")
        if self.epochs_per_bitrate < 1 or self.batch_size < 1 or not self.lr > 0:
            raise LatentLensError("epochs_per_bitrate, batch_size and lr must be positive")
        seed = 0 if self.random_state is None else int(self.random_state)
        rng = np.random.default_rng(seed)
        x64 = x.double().numpy()
        codebook = norm_sorted_init(x, 4)
        self.history_, self.codebooks_ = [], {}
        bar = tqdm(total=self.bits - 1, desc="sfvq", disable=not show_progress)
        for bits in range(2, self.bits + 1):
            if bits > 2:
                codebook = extend_codebook(codebook)
            codebook = self._train_stage(codebook, x64, rng)
            self.codebooks_[bits] = codebook
            index, point = project(x, codebook)
            counts = torch.bincount(index.floor().long().clamp(max=len(codebook) - 2), minlength=len(codebook) - 1)
            near = torch.bincount(torch.cdist(x, codebook).argmin(1), minlength=len(codebook))
            self.history_.append({
                "bits": bits, "corners": len(codebook), "curve_mse": float((x - point).pow(2).mean()),
                "perplexity": perplexity(counts), "unused_corners": int((near == 0).sum()),
            })  # fmt: skip
            bar.update(1)
        bar.close()
        self.codebook_ = codebook
        self.n_features_in_ = x.shape[1]
        return self

    def _train_stage(self, codebook: torch.Tensor, x: np.ndarray, rng: np.random.Generator) -> torch.Tensor:
        c = codebook.double().numpy().copy()
        adam = Adam(c.shape, self.lr)
        e, n, b = self.epochs_per_bitrate, len(x), self.batch_size
        milestones = {max(1, round(0.6 * e)), max(1, round(0.8 * e))}
        for epoch in range(e):
            adam.lr = self.lr * 0.5 ** sum(epoch >= m for m in milestones)  # MultiStepLR, gamma 0.5
            shuffled = x[rng.permutation(n)]
            dithers = rng.random((-(-n // b), len(c) - 1))
            for step, start in enumerate(range(0, n, b)):
                _, grad, _ = dithered_step(c, shuffled[start : start + b], dithers[step])
                adam.step(c, grad)
        return torch.from_numpy(c).float()

    # -- inference ---------------------------------------------------------------------------------
    def _check(self) -> None:
        if not hasattr(self, "codebook_"):
            raise LatentLensError("SpaceFillingVQ is not fitted: call fit(latents) first")

    def transform(self, x) -> torch.Tensor:
        """Continuous curve indices ``k + lambda`` of the latents (Eq. 5)."""
        self._check()
        return project(torch.as_tensor(np.asarray(x), dtype=torch.float32), self.codebook_)[0]

    def quantize(self, x) -> torch.Tensor:
        """The latents' projections onto the curve."""
        self._check()
        return project(torch.as_tensor(np.asarray(x), dtype=torch.float32), self.codebook_)[1]

    def inverse_transform(self, index) -> torch.Tensor:
        """Points on the curve at continuous indices."""
        self._check()
        return decode(self.codebook_, torch.as_tensor(index, dtype=torch.float32))

    def curve_mse(self, x) -> float:
        """Mean squared error per dimension between the latents and their projections on the curve."""
        x = torch.as_tensor(np.asarray(x), dtype=torch.float32)
        return float((x - self.quantize(x)).pow(2).mean())

    def locality_ratio(self) -> float:
        """Mean distance between consecutive corners / mean distance between all pairs (1 = no ordering)."""
        self._check()
        c = self.codebook_.double()
        consecutive = (c[1:] - c[:-1]).norm(dim=1).mean()
        dist = torch.cdist(c, c)
        k = len(c)
        return float(consecutive / (dist.sum() / (k * (k - 1))))

    def line_directions(self) -> torch.Tensor:
        """``(K - 1, D)`` unit directions ``(c_{j+1} - c_j) / ||.||`` of the curve's lines."""
        self._check()
        seg = self.codebook_[1:] - self.codebook_[:-1]
        return seg / seg.norm(dim=1, keepdim=True).clamp_min(1e-12)

    def line_points(self, j: int, t) -> torch.Tensor:
        """Points ``c_j + t (c_{j+1} - c_j)`` on line ``j`` (controllable augmentation, ``t`` in [0, 1])."""
        self._check()
        if not 0 <= int(j) < len(self.codebook_) - 1:
            raise LatentLensError(f"line {j} does not exist (0 .. {len(self.codebook_) - 2})")
        t = torch.as_tensor(t, dtype=torch.float32).reshape(-1, 1)
        return self.codebook_[j] + t * (self.codebook_[j + 1] - self.codebook_[j])

    @staticmethod
    def noise_substitution(x: torch.Tensor, x_hat: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """NSVQ (Eq. 4): ``x + ||x - x_hat|| v / ||v||``, ``v ~ N(0, I)``: a quantisation error of the right size
        through which gradients reach ``x`` (for training SFVQ jointly with an encoder)."""
        v = torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device)
        err = (x - x_hat).norm(dim=-1, keepdim=True)
        return x + err * v / (v.norm(dim=-1, keepdim=True) + 1e-12)


    # -- persistence ---------------------------------------------------------------------------------
    def save(self, path) -> None:
        """``<path>.safetensors`` (the codebook) + ``<path>.json`` (parameters and history), atomically."""
        from ..io import save_tensors, write_json

        self._check()

        stem = _stem(path)
        save_tensors(stem.with_name(stem.name + ".safetensors"), {"codebook": self.codebook_})
        write_json(stem.with_name(stem.name + ".json"), {"kind": "latentlens.sfvq", "format_version": 1,
                                               "params": self.get_params(), "history": self.history_})  # fmt: skip

    @classmethod
    def load(cls, path) -> "SpaceFillingVQ":

        from ..io import load_tensors, read_json

        stem = _stem(path)
        json_path, tensor_path = stem.with_name(stem.name + ".json"), stem.with_name(stem.name + ".safetensors")
        meta = read_json(json_path)
        if not isinstance(meta, dict) or meta.get("kind") != "latentlens.sfvq" or not isinstance(meta.get("params"), dict):
            raise LatentLensError(f"{json_path} is not a latentlens SFVQ file")
        codebook = load_tensors(tensor_path).get("codebook")
        if codebook is None or codebook.ndim != 2 or len(codebook) < 4 or not torch.isfinite(codebook).all():
            raise LatentLensError(f"{tensor_path} holds no valid SFVQ codebook")
        try:
            q = cls(**meta["params"])
        except TypeError as exc:
            raise LatentLensError(f"{json_path}: bad parameters: {exc}") from None
        q.codebook_, q.history_, q.n_features_in_ = codebook.float(), list(meta.get("history") or []), codebook.shape[1]
        return q

    def get_params(self) -> dict:
        return {"bits": self.bits, "epochs_per_bitrate": self.epochs_per_bitrate, "batch_size": self.batch_size,
                "lr": self.lr, "random_state": self.random_state}  # fmt: skip


def _stem(path):
    """``path`` without a ``.json``/``.safetensors`` suffix (other dots are part of the name)."""
    from pathlib import Path

    path = Path(path)
    return path.with_suffix("") if path.suffix in (".json", ".safetensors") else path


@torch.inference_mode()
def line_effects(generator, codebook: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """RMS image change between the two corners of each line, per unit latent length -> ``(K - 1,)``: how
    visibly the curve moves along that line (the paper picks lines by eye; this ranks them)."""
    images = torch.cat([generator(codebook[s : s + batch_size].float()).float().cpu()
                        for s in range(0, len(codebook), batch_size)])  # fmt: skip
    change = (images[1:] - images[:-1]).pow(2).flatten(1).mean(1).sqrt()
    return change / (codebook[1:] - codebook[:-1]).norm(dim=1).clamp_min(1e-12)


def rank_lines(directions: torch.Tensor, effects: torch.Tensor, k: int, max_cos: float = 0.9) -> list[int]:
    """Greedy choice of ``k`` lines by decreasing effect, skipping a line within ``max_cos`` (|cos|) of one
    already chosen (consecutive lines of a curve often point the same way)."""
    chosen: list[int] = []
    for j in torch.argsort(effects, descending=True).tolist():
        if all(abs(float(directions[j] @ directions[i])) <= max_cos for i in chosen):
            chosen.append(j)
        if len(chosen) == k:
            break
    return chosen


@register("directions", "sfvq")
class SFVQDirections(DirectionFinder):
    """Directions from the lines of a space-filling curve fitted to the generator's latents (Vali &
    Bäckström 2025): ``+-(c_{j+1} - c_j) / ||.||``, ranked by :func:`line_effects` and kept distinct by
    :func:`rank_lines`.

    Parameters
    ----------
    n_directions: lines kept (default: the latent dimension, at most the number of lines).
    bits, epochs_per_bitrate: the curve (``2^bits`` corners). n_samples: latents the curve is fitted to (the
        generator's ``sample_latents``: its prior, or a VAE adapter's aggregate posterior).
    max_cos: two kept lines differ by at least this angle. random_state: seed.

    Attributes
    ----------
    sfvq_: the fitted :class:`SpaceFillingVQ`; lines_: the index ``j`` of each kept line.
    """

    name = "sfvq"
    unit_norm = True
    orthonormal = False

    def __init__(self, n_directions: int | None = None, bits: int = 6, epochs_per_bitrate: int = 3,
                 n_samples: int = 10_000, max_cos: float = 0.9, random_state: int | None = None):  # fmt: skip
        self.n_directions = n_directions
        self.bits = bits
        self.epochs_per_bitrate = epochs_per_bitrate
        self.n_samples = n_samples
        self.max_cos = max_cos
        self.random_state = random_state

    def _fit(self, generator, seed: int) -> dict:
        from .base import torch_generator

        k = self._check_k(generator.latent_dim)
        z = generator.sample_latents(int(self.n_samples), torch_generator(seed, 31)).float().cpu()
        q = SpaceFillingVQ(self.bits, self.epochs_per_bitrate, random_state=seed).fit(z)
        lines = q.line_directions()
        effects = line_effects(generator, q.codebook_)
        keep = rank_lines(lines, effects, min(k, len(lines)), self.max_cos)
        self.sfvq_, self.lines_ = q, keep
        seg = (q.codebook_[1:] - q.codebook_[:-1]).norm(dim=1)
        return {"basis": lines[keep], "scales": seg[keep], "scores": effects[keep], "score_name": "line_effect",
                "extra": {"lines": keep, "locality_ratio": q.locality_ratio(), "history": q.history_,
                          "curve_mse": q.history_[-1]["curve_mse"]}}  # fmt: skip


__all__ = ["SFVQDirections", "SpaceFillingVQ", "decode", "line_effects", "rank_lines", "dithered_step", "extend_codebook", "norm_sorted_init",
           "perplexity", "project"]  # fmt: skip
