"""Unsupervised direction discovery in generator latent spaces (GANs, VAE decoders, any latent->image module).

Every finder is a scikit-learn-style estimator registered under kind ``"directions"``::

    from latentlens.directions import SeFa, as_generator
    dirs = SeFa(n_directions=5).fit(model).directions_   # a Directions artifact
    dirs.save("runs/x/directions/sefa")                  # sefa.safetensors + sefa.json

Methods: ``random`` and ``coordinate`` (baselines), ``ganspace`` (Härkönen et al. 2020), ``sefa`` (Shen & Zhou
2021), ``voynov`` (Voynov & Babenko 2020; NOG/OLR orthogonality of Song et al. 2023), ``sfvq`` (lines of a
space-filling curve through the latents, Vali & Bäckström 2025), ``latentclr`` (contrastive conditional
directions, Yüksel et al. 2021, as DiffEx uses them).
"""

from ..registry import names as _names
from .base import DirectionFinder, Directions, build_finder
from .baselines import CoordinateDirections, RandomDirections
from .contrastive import LatentCLR
from .deformator import LinearDeformator, Reconstructor, Voynov
from .ganspace import GANSpace
from .generators import GANGenerator, ModuleGenerator, VAEDecoderGenerator, as_generator
from .ordering import image_effect
from .sefa import SeFa
from .sfvq import SFVQDirections, SpaceFillingVQ


def method_names() -> list[str]:
    """Registered direction finders (the names the CLI accepts)."""
    return _names("directions")


__all__ = [
    "CoordinateDirections", "DirectionFinder", "LatentCLR", "Directions", "GANGenerator", "GANSpace", "LinearDeformator",
    "ModuleGenerator", "RandomDirections", "Reconstructor", "SFVQDirections", "SeFa", "SpaceFillingVQ",
    "VAEDecoderGenerator", "Voynov", "as_generator",
    "build_finder", "image_effect", "method_names",
]  # fmt: skip
