"""Training loop for :class:`~latentlens.models.classifier.SmallCNN` on labelled images (a folder per class).

A seeded share of the images (``val_fraction``) is held out; the log records the training loss and the
held-out accuracy, and ``metrics.json`` the final accuracy. Same run folder, resume and DDP-free
conventions as the VAE and GAN loops (Adam, cross-entropy, light flips as augmentation).
"""

from __future__ import annotations

import time

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import LatentLensError
from ..io import update_json
from ..models import build_model
from .loop import (
    RunWriter,
    StepTimer,
    TrainSettings,
    progress_bar,
    set_lr,
    stop_if_diverged,
    to_channels_last,
    training_device,
)


def split_indices(n: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    n_val = max(1, int(round(n * val_fraction)))
    if n - n_val < 2:
        raise LatentLensError(f"need more images to hold {val_fraction:.0%} out for validation, got {n}")
    return np.sort(order[n_val:]), np.sort(order[:n_val])


@torch.inference_mode()
def accuracy(model, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 512) -> float:
    was = model.training
    model.eval()
    device = next(model.parameters()).device
    hits = 0
    for s in range(0, len(images), batch_size):
        logits = model(to_channels_last(images[s : s + batch_size].float().div(255).to(device)))
        hits += int((logits.argmax(1).cpu() == labels[s : s + batch_size]).sum())
    model.train(was)
    return hits / max(1, len(images))


def train_classifier(images: torch.Tensor, labels, classes: list[str], out_dir, settings: TrainSettings,
                     val_fraction: float = 0.2, resume: bool = False, data_name: str = "images"):  # fmt: skip
    """Train on uint8 ``images`` ``(N, C, H, W)`` with integer ``labels``; returns the model (eval mode)."""
    settings.validate()
    labels = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    if len(set(labels.tolist())) < 2:
        raise LatentLensError("a classifier needs images of at least two classes")
    train_idx, val_idx = split_indices(len(images), val_fraction, settings.seed)
    torch.manual_seed(settings.seed)
    device = training_device(settings, 1)
    model_config = {"in_channels": int(images.shape[1]), "image_size": int(images.shape[-1]), "n_classes": len(classes),
                    "classes": list(classes)}  # fmt: skip
    model = build_model("classifier", model_config).to(device=device, memory_format=torch.channels_last)
    config = {"kind": "classifier", "model": model.config_dict(), "objective": {"name": "cross-entropy", "hparams": {}},
              "train": {**vars(settings), "data": data_name, "val_fraction": val_fraction, "device": str(device)}}  # fmt: skip
    writer = RunWriter(out_dir, config, resume)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr)
    start = writer.start_step({"model": model}, {"model": optimizer}, resume)
    x_train, y_train = images[train_idx], labels[train_idx]
    x_val, y_val = images[val_idx], labels[val_idx]
    model.train()
    timer, began = StepTimer(), time.perf_counter()
    bar = progress_bar(settings.steps, start, settings.progress, "train classifier")
    for step in range(start, settings.steps):
        set_lr(optimizer, settings.lr_at(step))
        rng = np.random.default_rng(np.random.SeedSequence([settings.seed, step]))
        pick = torch.from_numpy(rng.integers(0, len(x_train), settings.batch_size))
        x = x_train[pick].float().div(255)
        flips = torch.from_numpy(rng.random(len(x)) < 0.5)
        x = torch.where(flips[:, None, None, None], x.flip(-1), x)
        logits = model(to_channels_last(x.to(device)))
        loss = F.cross_entropy(logits, y_train[pick].to(device))
        stop_if_diverged(loss, step, writer.run_dir, bar)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        timer.add(len(x))
        bar.update(1)
        done = step + 1
        if done % settings.log_every == 0 or done == settings.steps:
            record = {"step": done, "loss": float(loss.detach()), "images_per_s": round(timer.rate(), 1),
                      "time_s": round(writer.elapsed_s + time.perf_counter() - began, 2)}  # fmt: skip
            if done % (settings.log_every * 10) == 0 or done == settings.steps:
                record["val_accuracy"] = accuracy(model, x_val, y_val)
            writer.log(record)
        if done % settings.checkpoint_every == 0 and done < settings.steps:
            writer.checkpoint(done, {"model": model}, {"model": optimizer}, model)
    bar.close()
    writer.checkpoint(settings.steps, {"model": model}, {"model": optimizer}, model)
    val = accuracy(model, x_val, y_val)
    summary = {"steps": settings.steps, "seconds": round(writer.elapsed_s + time.perf_counter() - began, 2),
               "val_accuracy": val, "train_accuracy": accuracy(model, x_train, y_train), "n_val": len(val_idx)}  # fmt: skip
    writer.finish(settings.steps, model, summary)
    update_json(writer.run_dir / "metrics.json", {"classifier": {"val_accuracy": val, "classes": list(classes),
                                                                 "n_val": len(val_idx)}})  # fmt: skip
    return model.eval()


def fit_factor_regressor(images: torch.Tensor, factors: np.ndarray, steps: int = 800, batch_size: int = 64,
                         lr: float = 2e-3, seed: int = 0, val_fraction: float = 0.2):  # fmt: skip
    """A :class:`SmallCNN` with one output per factor, fitted by mean squared error to the standardised
    ``factors`` ``(N, F)`` of uint8 ``images`` (a factor predictor for image folders with a factor table).
    Returns ``(model, mean, sd, r2)``: predictions are in standard deviations of each factor around ``mean``,
    and ``r2`` is the held-out coefficient of determination per factor (how far the read-out can be trusted)."""
    factors = np.asarray(factors, dtype=np.float64)
    mean, sd = factors.mean(0), factors.std(0) + 1e-12
    target = torch.as_tensor((factors - mean) / sd, dtype=torch.float32)
    train_idx, val_idx = split_indices(len(images), val_fraction, seed)
    torch.manual_seed(seed)
    model = build_model("classifier", {"in_channels": int(images.shape[1]), "image_size": int(images.shape[-1]),
                                       "n_classes": max(2, factors.shape[1])})  # fmt: skip
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    rng = np.random.default_rng(seed)
    model.train()
    for step in range(steps):
        set_lr(optimizer, lr * 0.5 * (1 + np.cos(np.pi * step / steps)))
        pick = torch.from_numpy(train_idx[rng.integers(0, len(train_idx), batch_size)])
        loss = F.mse_loss(model(images[pick].float().div(255))[:, : factors.shape[1]], target[pick])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    model.eval().requires_grad_(False)
    with torch.inference_mode():
        pred = model(images[val_idx].float().div(255))[:, : factors.shape[1]]
    residual = ((pred - target[val_idx]) ** 2).mean(0)
    r2 = 1 - residual / target[val_idx].var(0, unbiased=False).clamp_min(1e-12)
    return model, mean, sd, r2.numpy()
