"""A second instrument for factor alignment: read the dSprites factors off a VAE's own encoder.

:class:`~latentlens.metrics.factor_predictor.FactorPredictor` reads factors from pixels; on a VAE's blurry
decodes (a round blob has no orientation, a soft square looks like an ellipse) its shape and orientation
outputs jitter, and that jitter counts against every direction's purity. :class:`EncoderReadout` reads the
factors instead from the VAE's encoder mean ``mu(x)``: a small MLP probe is fitted on ``(mu(x), factors)``
of real dSprites images, and an image is read as ``probe(mu(image))``. The VAE's encoder is at home on its
own decoder's outputs, so this instrument does not pay the pixel predictor's domain shift; it can only see
what the encoder encodes, so a factor the VAE ignores reads as noise. Comparing the two instruments on the
same directions says whether low purity comes from the model or from the pixel predictor.

``predict(images)`` returns the same dictionary as ``FactorPredictor.predict`` (shape probabilities, scale,
posX, posY in [0, 1], the ``(cos 4 theta, sin 4 theta)`` orientation vector), so
:func:`~latentlens.metrics.factor_alignment.factor_effects` takes either instrument.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import LatentLensError


class EncoderReadout:
    """Factors of dSprites images read through a VAE encoder and an MLP probe (see the module docstring)."""

    def __init__(self, vae, hidden: int = 128, n_train: int = 20_000, steps: int = 1500, lr: float = 3e-3,
                 random_state: int = 0):  # fmt: skip
        self.vae, self.hidden, self.n_train, self.steps, self.lr = vae, hidden, n_train, steps, lr
        self.random_state = random_state

    @torch.inference_mode()
    def _codes(self, images: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
        self.vae.eval()
        device = next(iter(self.vae.parameters()), torch.zeros(())).device
        return torch.cat([self.vae.encode(images[s : s + batch_size].to(device))[0].float().cpu()
                          for s in range(0, len(images), batch_size)])  # fmt: skip

    def fit(self) -> "EncoderReadout":
        from ..data.dsprites import DSprites

        if self.n_train < 100 or self.steps < 1:
            raise LatentLensError("EncoderReadout needs n_train >= 100 and steps >= 1")
        data = DSprites()
        rng = np.random.default_rng(self.random_state)
        factors = data.sample_factors(self.n_train, rng)
        codes = self._codes(data.images(factors))
        self.mean_, self.std_ = codes.mean(0), codes.std(0).clamp_min(1e-6)
        x = (codes - self.mean_) / self.std_
        f = torch.as_tensor(factors, dtype=torch.long)
        theta = f[:, 2].double() / 39 * 2 * math.pi
        reg = torch.stack([f[:, 1] / 5.0, f[:, 3] / 31.0, f[:, 4] / 31.0], 1).float()
        angle = torch.stack([torch.cos(4 * theta), torch.sin(4 * theta)], 1).float()
        g = torch.Generator().manual_seed(self.random_state)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.random_state)
            probe = nn.Sequential(nn.Linear(x.shape[1], self.hidden), nn.ReLU(), nn.Linear(self.hidden, self.hidden),
                                  nn.ReLU(), nn.Linear(self.hidden, 8))  # fmt: skip
        opt = torch.optim.Adam(probe.parameters(), lr=self.lr)
        for _ in range(self.steps):
            idx = torch.randint(0, len(x), (256,), generator=g)
            out = probe(x[idx])
            loss = F.cross_entropy(out[:, :3], f[idx, 0]) + 10 * F.mse_loss(out[:, 3:6], reg[idx])
            loss = loss + F.mse_loss(out[:, 6:8], angle[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        self.probe_ = probe.eval()
        return self

    @torch.inference_mode()
    def predict(self, images: torch.Tensor, batch_size: int = 1000) -> dict[str, torch.Tensor]:
        if not hasattr(self, "probe_"):
            raise LatentLensError("EncoderReadout is not fitted: call fit() first")
        out = self.probe_((self._codes(images.float(), batch_size) - self.mean_) / self.std_)
        angle = out[:, 6:8] / out[:, 6:8].norm(dim=1, keepdim=True).clamp_min(1.0)
        return {"shape": out[:, :3].softmax(1), "scale": out[:, 3], "posX": out[:, 4], "posY": out[:, 5],
                "orientation": angle}  # fmt: skip
