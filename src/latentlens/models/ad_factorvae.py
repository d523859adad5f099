"""AD-FactorVAE (Liu et al. 2020, Sec. 3.3): FactorVAE + lambda * attention-disentanglement loss (Eq. 5).

    L = rec + KL + gamma * TC + ad_lambda * L_AD(M^i, M^j)

``ad_layer`` names the encoder layer whose attention maps are compared. The default ``encoder.3`` is
the ReLU after the second convolution (16 x 16 maps at 64 px), the paper's "after the 2nd
down-sampling"; a public reproduction found the first convolution (``encoder.1``) best at lambda = 40.
``ad_pair`` is ``top`` (the two dimensions with the largest attention mass, per image) or ``random``.
The maps are taken from the same encoder pass as the rest of the objective and keep their graph, so the
loss's gradient is exact (second order through the Grad-CAM weights).
"""

from __future__ import annotations

from ..explain.ad_loss import PAIRS, ad_loss_from_capture
from ..explain.vae_attention import LayerCapture, VAEAttention
from ..errors import LatentLensError
from ..registry import register
from .vae_objectives import FactorVAE


@register("objective", "ad-factorvae")
class ADFactorVAE(FactorVAE):
    has_discriminator = True

    def __init__(
        self,
        latent_dim: int = 10,
        gamma: float = 35.0,
        disc_width: int = 1000,
        ad_lambda: float = 40.0,
        ad_layer: str = "encoder.3",
        ad_pair: str = "top",
    ):
        super().__init__(latent_dim, gamma, disc_width)
        if ad_pair not in PAIRS:
            raise LatentLensError(f"--ad-pair must be one of {', '.join(PAIRS)}, got {ad_pair!r}")
        if ad_lambda < 0:
            raise LatentLensError(f"--ad-lambda must be non-negative, got {ad_lambda}")
        self.ad_lambda, self.ad_layer, self.ad_pair = float(ad_lambda), str(ad_layer), ad_pair

    def check(self, model) -> None:
        """Refuse an ``ad_layer`` the model does not have, before any training."""
        from ..explain.vae_attention import resolve_layer

        resolve_layer(getattr(model, "module", model), self.ad_layer)

    def hparams(self) -> dict:
        return {**super().hparams(), "ad_lambda": self.ad_lambda, "ad_layer": self.ad_layer, "ad_pair": self.ad_pair}

    def forward(self, model, x, generator=None):
        inner = getattr(model, "module", model)  # DistributedDataParallel wraps the model
        attention = VAEAttention(inner, self.ad_layer)
        with LayerCapture(inner, self.ad_layer, attention.successor) as cap:
            out = super().forward(model, x, generator)
        if cap.activation is None:
            raise LatentLensError(f"layer {self.ad_layer!r} was not run by the model's forward pass")
        mu = out.pop("_mu")
        out["ad"], _ = ad_loss_from_capture(attention, mu, cap, self.ad_pair, generator)
        out["loss"] = out["loss"] + self.ad_lambda * out["ad"]
        return out

    def terms(self, model, x, generator):
        terms, mu, logvar, z = super().terms(model, x, generator)
        terms["_mu"] = mu  # handed to forward; removed before the dict leaves the objective
        return terms, mu, logvar, z
