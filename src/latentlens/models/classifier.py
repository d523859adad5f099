"""A small image classifier (the model whose decisions the attribute tools explain).

Four strided convolutions (32-32-64-64, 4x4, stride 2) with BatchNorm and ReLU, global average pooling and a
linear layer to ``n_classes`` logits; ``classes`` names them. Any user ``nn.Module`` that maps images to
logits works in its place through :func:`latentlens.as_classifier`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from ..errors import LatentLensError
from ..registry import register


@dataclass(frozen=True)
class ClassifierConfig:
    in_channels: int = 1
    image_size: int = 64
    n_classes: int = 2
    width: int = 32
    classes: tuple = field(default=())

    def validate(self) -> "ClassifierConfig":
        if self.in_channels not in (1, 3):
            raise LatentLensError(f"in_channels must be 1 or 3, got {self.in_channels}")
        if self.image_size < 16 or self.image_size % 16:
            raise LatentLensError(f"image_size must be a multiple of 16, got {self.image_size}")
        if self.n_classes < 2:
            raise LatentLensError(f"a classifier needs at least 2 classes, got {self.n_classes}")
        if self.classes and len(self.classes) != self.n_classes:
            raise LatentLensError(f"{len(self.classes)} class names for {self.n_classes} classes")
        return self


@register("model", "classifier")
class SmallCNN(nn.Module):
    """Images ``(N, C, H, W)`` in [0, 1] -> logits ``(N, n_classes)``."""

    def __init__(self, config: ClassifierConfig | None = None, **kwargs):
        super().__init__()
        if "classes" in kwargs and isinstance(kwargs["classes"], list):
            kwargs["classes"] = tuple(kwargs["classes"])
        self.config = (config or ClassifierConfig(**kwargs)).validate()
        c, w = self.config.in_channels, self.config.width

        def block(cin, cout):
            return [nn.Conv2d(cin, cout, 4, 2, 1), nn.BatchNorm2d(cout), nn.ReLU()]

        self.features = nn.Sequential(*block(c, w), *block(w, w), *block(w, 2 * w), *block(2 * w, 2 * w))
        self.head = nn.Linear(2 * w, self.config.n_classes)

    @property
    def classes(self) -> list[str]:
        return list(self.config.classes) or [str(i) for i in range(self.config.n_classes)]

    def config_dict(self) -> dict:
        d = asdict(self.config)
        d["classes"] = list(d["classes"])
        return d

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).mean(dim=(-2, -1)))


def prediction_kl(reference_logits: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """KL(C(x) || C(x_hat)) averaged over the batch: how far a classifier's prediction on a reconstruction is
    from its prediction on the original (StylEx's classifier loss, Lang et al. 2021, Sec. 3; DiffEx's KL term).
    Gradients flow through ``logits`` only."""
    log_p = torch.log_softmax(reference_logits.detach(), 1)
    return (log_p.exp() * (log_p - torch.log_softmax(logits, 1))).sum(1).mean()
