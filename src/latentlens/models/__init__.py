"""Models built from a config through the registry: ``build_model("vae", {...})``."""

from __future__ import annotations

from ..registry import get
from . import gan, vae, vae_objectives  # noqa: F401  (registers models and objectives)
from . import ad_factorvae  # noqa: F401  (registers the "ad-factorvae" objective)
from . import ddpm  # noqa: F401  (registers the "ddpm" model)
from .ddpm import DDPM, DDPMConfig
from . import diffae  # noqa: F401  (registers the "diffae" model)
from .diffae import DiffAE, DiffAEConfig
from .gan import DCGAN, GANConfig
from .vae import ConvVAE, VAEConfig

from ..metrics.factor_predictor import FactorPredictorConfig
from .classifier import ClassifierConfig, SmallCNN

_CONFIGS = {"vae": VAEConfig, "gan": GANConfig, "factor-predictor": FactorPredictorConfig, "classifier": ClassifierConfig,
            "ddpm": DDPMConfig, "diffae": DiffAEConfig}


def build_model(kind: str, config: dict | None = None):
    """Build a registered model from a plain dict of its config fields."""
    from ..errors import LatentLensError

    cls = get("model", kind)
    fields = _CONFIGS[kind].__dataclass_fields__
    config = dict(config or {})
    unknown = sorted(set(config) - set(fields))
    if unknown:
        raise LatentLensError(f"unknown {kind} config fields: {', '.join(unknown)}")
    for name, value in config.items():
        default = fields[name].default
        if isinstance(default, int) and not isinstance(default, bool):
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_SIZE:
                raise LatentLensError(f"{kind} config: {name} must be a whole number in [0, {MAX_SIZE}], got {value!r}")
        elif isinstance(default, str) and not isinstance(value, str):
            raise LatentLensError(f"{kind} config: {name} must be text, got {value!r}")
    return cls(_CONFIGS[kind](**config))


MAX_SIZE = 4096  # no size of these models (channels, latent, image side, width) is larger


__all__ = ["ConvVAE", "VAEConfig", "DCGAN", "GANConfig", "DDPM", "DDPMConfig", "SmallCNN", "build_model", "gan", "vae"]
