"""latentlens: make the latent spaces of generative models interpretable.

The public API, importable from the top level (loaded on first use, so ``import latentlens`` stays light):

- adapters: :func:`as_generator`, :func:`as_vae`, :func:`as_classifier` (any user model);
- direction finders: :func:`build_finder` and the :class:`Directions` artifact;
- workflows (what the CLI runs): :func:`discover`, :func:`explain`, :func:`evaluate`, :func:`report`;
- the model zoo: :mod:`latentlens.zoo` (``latentlens.zoo.load("dsprites-factorvae")``).
"""

from .errors import LatentLensError

__version__ = "0.1.0"

_LAZY = {
    "as_generator": ("latentlens.adapters", "as_generator"),
    "as_vae": ("latentlens.adapters", "as_vae"),
    "as_classifier": ("latentlens.adapters", "as_classifier"),
    "build_finder": ("latentlens.directions", "build_finder"),
    "Directions": ("latentlens.directions", "Directions"),
    "VAEAttention": ("latentlens.explain.vae_attention", "VAEAttention"),
    "discover": ("latentlens.workflows", "discover"),
    "explain": ("latentlens.workflows", "explain"),
    "evaluate": ("latentlens.workflows", "evaluate"),
    "report": ("latentlens.workflows", "report"),
    "zoo": ("latentlens.zoo", None),
    "workflows": ("latentlens.workflows", None),
}


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'latentlens' has no attribute {name!r}")
    import importlib

    module_name, attr = _LAZY[name]
    module = importlib.import_module(module_name)
    value = module if attr is None else getattr(module, attr)
    globals()[name] = value
    return value


__all__ = ["LatentLensError", "__version__", *_LAZY]
