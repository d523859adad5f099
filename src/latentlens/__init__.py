"""latentlens: make the latent spaces of generative models interpretable."""

from .errors import LatentLensError

__version__ = "0.1.0"
__all__ = ["LatentLensError", "__version__"]
