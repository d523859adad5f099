"""Representation functions: observations -> (n, d) numpy codes, the input of every disentanglement metric.

disentanglement_lib evaluates the **mean** of the Gaussian encoder (``postprocess_configs/mean.gin``); its
"sampled" variant draws ``mu + sigma * eps``. :func:`vae_representation` wraps any model with
``encode(x) -> (mu, logvar)`` that way, in batches, under ``torch.inference_mode`` and in eval mode (the
model's previous mode is restored afterwards). Any other callable returning (n, d) codes works as well, e.g.
the coordinates of observations along discovered directions.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..errors import LatentLensError
from ._sampling import RandomState, as_generator

MODES = ("mean", "sampled")


class VAERepresentation:
    """Callable ``observations -> np.ndarray (n, d)`` built on ``model.encode``.

    Parameters
    ----------
    model : module with ``encode(x) -> (mu, logvar)``.
    mode : ``"mean"`` (dlib's default, ``mu``) or ``"sampled"`` (``mu + exp(logvar / 2) * eps``).
    batch_size : observations per encoder call.
    device : where to run the encoder; default: the device of the model's first parameter (else CPU).
    random_state : seeds ``eps`` for ``mode="sampled"``; successive calls continue the same stream.
    """

    def __init__(
        self,
        model: Any,
        *,
        mode: str = "mean",
        batch_size: int = 512,
        device: str | torch.device | None = None,
        random_state: RandomState = 0,
    ) -> None:
        if mode not in MODES:
            raise LatentLensError(f"unknown representation mode {mode!r} (known: {', '.join(MODES)})")
        if not hasattr(model, "encode"):
            raise LatentLensError(f"{type(model).__name__} has no encode(x) -> (mu, logvar)")
        self.model = model
        self.mode = mode
        self.batch_size = max(1, int(batch_size))
        if device is None:
            try:
                device = next(iter(model.parameters())).device
            except (AttributeError, StopIteration):
                device = torch.device("cpu")
        self.device = torch.device(device)
        seed = int(as_generator(random_state).integers(0, 2**63 - 1))
        self._generator = torch.Generator(device="cpu").manual_seed(seed)

    @property
    def deterministic(self) -> bool:
        """The same image always gets the same code (``mean``), so codes may be cached and reused."""
        return self.mode == "mean"

    def __repr__(self) -> str:
        return (f"VAERepresentation({type(self.model).__name__}, mode={self.mode!r}, "
                f"batch_size={self.batch_size}, device={str(self.device)!r})")

    def __call__(self, observations: Any) -> np.ndarray:
        x = observations if isinstance(observations, torch.Tensor) else torch.from_numpy(np.asarray(observations))
        if not torch.is_floating_point(x):
            x = x.to(torch.float32)
        was_training = bool(getattr(self.model, "training", False))
        if hasattr(self.model, "eval"):
            self.model.eval()
        try:
            out = []
            with torch.inference_mode():
                for start in range(0, x.shape[0], self.batch_size):
                    mu, logvar = self.model.encode(x[start:start + self.batch_size].to(self.device))
                    if self.mode == "sampled":
                        eps = torch.randn(mu.shape, generator=self._generator, dtype=mu.dtype).to(mu.device)
                        mu = mu + torch.exp(0.5 * logvar) * eps
                    out.append(mu.detach().to("cpu", torch.float32).numpy())
        finally:
            if was_training and hasattr(self.model, "train"):
                self.model.train(True)
        if not out:
            return np.zeros((0, 0), dtype=np.float32)
        return np.concatenate(out, axis=0)


def vae_representation(
    model: Any,
    *,
    mode: str = "mean",
    batch_size: int = 512,
    device: str | torch.device | None = None,
    random_state: RandomState = 0,
) -> VAERepresentation:
    """The representation function of a VAE (mean code by default); see :class:`VAERepresentation`."""
    return VAERepresentation(model, mode=mode, batch_size=batch_size, device=device, random_state=random_state)
