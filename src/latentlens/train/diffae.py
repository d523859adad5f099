"""Training loop for the classifier-aware diffusion autoencoder (:class:`~latentlens.models.diffae.DiffAE`).

DiffEx (Bourou et al., arXiv 2502.09663; ``Classifier_Component``) trains with

    L = (1 - w) L_diffusion + w KL( C(x) || C(x_hat) ),    w = cls_weight * min(1, max(0, step - start) / anneal)

where ``L_diffusion`` is the decoder's noise-prediction loss conditioned on ``z_sem`` and ``x_hat`` the full round
trip: stochastic encoding of ``x`` (DDIM inversion, no gradient) and deterministic decoding with gradient.
On a CPU the round trip is short (``kl_steps`` DDIM steps, default 5) and runs on ``kl_batch`` images of each
batch; its gradient goes through the whole decoding chain with step-level checkpointing
(:func:`latentlens.directions.checkpointed_chain.checkpointed_chain`), into the decoder and, through z_sem, the
encoder. Without a classifier (or ``cls_weight = 0``) it is a plain diffusion autoencoder. At the end the
run records the reconstruction class agreement (the share of held-out images whose round trip keeps the
classifier's decision; DiffEx asks for >= 95 %), with 100 DDIM steps as DiffAE reconstructs (a small decoder's
20-step round trips lose the class by discretisation alone), and the semantic agreement: the same share for
images decoded from their z_sem and fresh noise, beside that of another image's z_sem - whether z_sem, which
the attributes edit, holds the class at all. Same run-folder and resume conventions as the other loops
(one process; no DDP).
"""

from __future__ import annotations

import logging
import time

import numpy as np
import torch

from ..directions.checkpointed_chain import checkpointed_chain
from ..errors import LatentLensError
from ..io import update_json
from ..models import build_model
from ..models.classifier import prediction_kl
from .classifier import split_indices
from .loop import RunWriter, StepTimer, TrainSettings, progress_bar, set_lr, stop_if_diverged, training_device

log = logging.getLogger(__name__)
AGREEMENT_AIM = 0.95  # DiffEx's bar for reconstructions that keep the classifier's decision
AGREEMENT_STEPS = 100  # DDIM steps of the recorded round trips (DiffAE's reconstructions use T = 100)
SEMANTIC_MARGIN = 0.1  # own z_sem must keep the class this much more often than another image's
SEMANTIC_MIN_IMAGES = 20  # fewer held-out images than this: the semantic check is reported, not warned on


def class_weight_at(step: int, cls_weight: float, start: int, anneal: int) -> float:
    if anneal <= 0:
        return cls_weight if step >= start else 0.0
    return cls_weight * min(1.0, max(0, step - start) / anneal)


def round_trip(model, images: torch.Tensor, z_sem: torch.Tensor, steps: int, grad: bool = False) -> torch.Tensor:
    """``x_hat``: decode the stochastic encoding of ``images``; with ``grad`` the decoding is differentiable
    (checkpointed) in ``z_sem`` and the decoder's weights."""
    with torch.no_grad():
        x_T = model.stochastic_encode(images, z_sem.detach(), steps)
    if not grad:
        with torch.no_grad():
            return model.render(z_sem, x_T, steps)
    return render_with_grad(model, z_sem, x_T, steps)


def render_with_grad(model, z_sem: torch.Tensor, x_T: torch.Tensor, steps: int) -> torch.Tensor:
    """:meth:`DiffAE.render` differentiable in ``z_sem`` and the decoder's weights, with step-level
    checkpointing (memory of one step, not of the chain)."""
    sampler = model.sampler(z_sem, steps)
    params = [z_sem] + [p for p in model.ddpm.parameters() if p.requires_grad]
    x0 = checkpointed_chain(sampler.step, x_T, len(sampler), params=params)
    return ((x0 + 1) / 2).clamp(0, 1)


def z_sem_holds_little(own: float, other: float, n_images: int) -> bool:
    """The semantic check fails: an image's own z_sem keeps its class not clearly more often than another
    image's (:func:`semantic_agreement`), on enough images to tell."""
    return own < other + SEMANTIC_MARGIN and n_images >= SEMANTIC_MIN_IMAGES


@torch.no_grad()
def class_agreement(model, classifier, images: torch.Tensor, steps: int = AGREEMENT_STEPS,
                    batch_size: int = 64) -> float:  # fmt: skip
    """Share of ``images`` (float, [0, 1]) whose round trip keeps the classifier's decision."""
    device = next(model.parameters()).device
    hits = 0
    for s in range(0, len(images), batch_size):
        x = images[s : s + batch_size].to(device)
        logits = classifier(x)
        z = model.semantic(x, logits.softmax(1) if model.config.n_classes else None)
        hits += int((classifier(round_trip(model, x, z, steps)).argmax(1) == logits.argmax(1)).sum())
    return hits / max(1, len(images))


@torch.no_grad()
def semantic_agreement(model, classifier, images: torch.Tensor, steps: int = 50, seed: int = 0,
                       batch_size: int = 64) -> tuple[float, float]:  # fmt: skip
    """Shares of ``images`` whose class the classifier gives again to a decoding of fresh noise conditioned on
    (their own z_sem, a randomly drawn other image's z_sem). Equal shares: z_sem holds none of what the
    classifier reads."""
    device = next(model.parameters()).device
    g = torch.Generator().manual_seed(seed)
    n = len(images)
    other = (torch.arange(n) + torch.randint(1, max(2, n), (n,), generator=g)) % max(1, n)  # never the image itself
    hits = [0, 0]
    z_all, labels = [], []
    for s in range(0, len(images), batch_size):
        x = images[s : s + batch_size].to(device)
        logits = classifier(x)
        z_all.append(model.semantic(x, logits.softmax(1) if model.config.n_classes else None))
        labels.append(logits.argmax(1))
    z_all, labels = torch.cat(z_all), torch.cat(labels)
    for s in range(0, len(images), batch_size):
        part = slice(s, s + batch_size)
        for i, z in enumerate((z_all[part], z_all[other[part]])):
            x_T = torch.randn((len(z), *model.image_shape), generator=g).to(device)
            hits[i] += int((classifier(model.render(z, x_T, steps)).argmax(1) == labels[part]).sum())
    return hits[0] / max(1, len(images)), hits[1] / max(1, len(images))


def train_diffae(images: torch.Tensor, out_dir, settings: TrainSettings, classifier=None, model_config: dict | None = None,
                 cls_weight: float = 0.3, anneal_start: float = 0.2, anneal_fraction: float = 0.3, kl_batch: int = 8,
                 kl_steps: int = 5, resume: bool = False, data_name: str = "images", classifier_run: str | None = None,
                 n_agreement: int = 128, classifier_component: bool = True):  # fmt: skip
    """Train on uint8 ``images`` ``(N, C, H, W)``; ``classifier`` maps [0, 1] images to logits (frozen). With
    ``classifier_component=False`` the classifier neither joins z_sem nor enters the loss (DiffEx's ablation) and
    only measures the class agreement. Returns the model (eval mode)."""
    settings.validate()
    if not cls_weight >= 0 or not 0 <= anneal_start <= 1 or not 0 <= anneal_fraction <= 1 or kl_batch < 1 or kl_steps < 1:
        raise LatentLensError("cls_weight >= 0, anneal_start and anneal_fraction in [0, 1], kl_batch and kl_steps >= 1")
    train_idx, val_idx = split_indices(len(images), 0.1, settings.seed)
    torch.manual_seed(settings.seed)
    device = training_device(settings, 1)
    n_classes = 0
    if classifier is not None:
        classifier = classifier.to(device).eval().requires_grad_(False)
        if classifier_component:
            n_classes = int(classifier(images[:1].float().div(255).to(device)).shape[1])
    config_in = {"in_channels": int(images.shape[1]), "image_size": int(images.shape[-1]), "n_classes": n_classes,
                 **(model_config or {})}  # fmt: skip
    model = build_model("diffae", config_in).to(device)
    start_kl, anneal = int(anneal_start * settings.steps), int(anneal_fraction * settings.steps)
    objective = {"name": "diffae" if n_classes and cls_weight > 0 else "diffae-no-classifier",
                 "hparams": {"cls_weight": cls_weight if n_classes else 0.0, "anneal_start": anneal_start,
                             "anneal_fraction": anneal_fraction, "kl_batch": kl_batch, "kl_steps": kl_steps}}  # fmt: skip
    config = {"kind": "diffae", "model": model.config_dict(), "objective": objective,
              "train": {**vars(settings), "data": data_name, "classifier": classifier_run,
                        "val_fraction": 0.1}}  # fmt: skip
    writer = RunWriter(out_dir, config, resume)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr)
    start = writer.start_step({"model": model}, {"model": optimizer}, resume)
    x_train, x_val = images[train_idx], images[val_idx]
    model.train()
    timer, began = StepTimer(), time.perf_counter()
    bar = progress_bar(settings.steps, start, settings.progress, "train diffae")
    for step in range(start, settings.steps):
        set_lr(optimizer, settings.lr_at(step))
        rng = np.random.default_rng(np.random.SeedSequence([settings.seed, step]))
        x = x_train[torch.from_numpy(rng.integers(0, len(x_train), settings.batch_size))].float().div(255).to(device)
        noise_gen = torch.Generator().manual_seed(int(rng.integers(0, 2**62)))
        reference = classifier(x) if n_classes else None
        probs = reference.softmax(1) if n_classes else None
        z = model.semantic(x, probs)
        diffusion = model.loss(x, z, noise_gen)
        w = class_weight_at(step, cls_weight, start_kl, anneal) if n_classes else 0.0
        kl = torch.zeros((), device=device)
        if w > 0:
            sub = slice(0, min(kl_batch, len(x)))
            x_hat = round_trip(model, x[sub], z[sub], kl_steps, grad=True)
            kl = prediction_kl(reference[sub], classifier(x_hat))
        loss = (1 - w) * diffusion + w * kl
        stop_if_diverged(loss, step, writer.run_dir, bar)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        timer.add(len(x))
        bar.update(1)
        done = step + 1
        if done % settings.log_every == 0 or done == settings.steps:
            writer.log({"step": done, "loss": float(loss.detach()), "diffusion": float(diffusion.detach()),
                        "kl": float(kl.detach()), "w": w, "images_per_s": round(timer.rate(), 1),
                        "time_s": round(writer.elapsed_s + time.perf_counter() - began, 2)})  # fmt: skip
        if done % settings.checkpoint_every == 0 and done < settings.steps:
            writer.checkpoint(done, {"model": model}, {"model": optimizer}, model)
    bar.close()
    writer.checkpoint(settings.steps, {"model": model}, {"model": optimizer}, model)
    model.eval()
    summary = {"steps": settings.steps, "seconds": round(writer.elapsed_s + time.perf_counter() - began, 2)}
    if classifier is not None:
        held_out = x_val[:n_agreement].float().div(255)
        steps = min(AGREEMENT_STEPS, model.ddpm.num_timesteps)
        summary["class_agreement"] = class_agreement(model, classifier, held_out, steps=steps)
        summary["n_agreement"], summary["agreement_ddim_steps"] = len(held_out), steps
        own, other = semantic_agreement(model, classifier, held_out, steps=min(50, steps), seed=settings.seed)
        summary["semantic_agreement"], summary["semantic_agreement_other"] = own, other
        log.info("round trips keep the class for %.0f %% of %d held-out images; decoded from fresh noise, their own "
                 "z_sem keeps it for %.0f %%, another image's for %.0f %%", 100 * summary["class_agreement"],
                 len(held_out), 100 * own, 100 * other)  # fmt: skip
        if z_sem_holds_little(own, other, len(held_out)):
            log.warning("z_sem holds little of what the classifier reads (decoded from fresh noise, an image's own "
                        "z_sem keeps its class for %.0f %%, another image's for %.0f %%): attribute edits in z_sem "
                        "will barely move the classifier; train longer", 100 * own, 100 * other)  # fmt: skip
        if summary["class_agreement"] < AGREEMENT_AIM:
            advice = ("; with the KL term its weight may be too high for this model: try a lower --cls-weight "
                      "(0 keeps the classifier component without the term)" if n_classes and cls_weight > 0 else
                      "; train longer")  # fmt: skip
            log.warning("round trips keep the classifier's decision for %.0f %% of %d held-out images (DiffEx asks "
                        ">= %.0f %%)%s", 100 * summary["class_agreement"], len(held_out), 100 * AGREEMENT_AIM, advice)  # fmt: skip
    writer.finish(settings.steps, model, summary)
    if "class_agreement" in summary:
        update_json(writer.run_dir / "metrics.json", {"diffae": {
            "class_agreement": summary["class_agreement"], "agreement_ddim_steps": summary["agreement_ddim_steps"],
            "semantic_agreement": summary["semantic_agreement"],
            "semantic_agreement_other": summary["semantic_agreement_other"], "n_images": summary["n_agreement"]}})  # fmt: skip
    return model
