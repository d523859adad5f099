"""Training loop for the VAE family: any registered objective, optional FactorVAE-style discriminator.

Adam (lr 1e-4, betas 0.9/0.999, eps 1e-8) for the VAE as in disentanglement_lib; the discriminator of
FactorVAE uses Adam with betas 0.5/0.9 (Kim & Mnih 2018). Models and batches are channels_last.
"""

from __future__ import annotations

import logging
import time

import torch

from ..data.sources import step_generator, step_rng
from ..errors import LatentLensError
from ..io import read_jsonl
from .checkpoint import checkpoint_step as ckpt_step
from ..models import build_model
from ..models.classifier import prediction_kl
from ..models.vae_objectives import build_objective
from .loop import RunWriter, StepTimer, TrainSettings, distributed_context, progress_bar
from .loop import set_lr, to_channels_last, training_device, wrap_ddp

log = logging.getLogger(__name__)


class NonFiniteLoss(LatentLensError):
    def __init__(self, value: float):
        super().__init__(f"the loss became {value}")
        self.value = value


def make_optimizers(model, loss_fn, lr: float, disc_lr: float | None = None):
    """Adam for the VAE; Adam(betas 0.5, 0.9) for a discriminator if the objective has one (learning rate
    ``disc_lr``, default ``lr``). The fused CPU/GPU kernels update all of a tensor's moments in one pass
    instead of a chain of element-wise ops."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, betas=(0.9, 0.999), eps=1e-8, fused=True)
    disc_optimizer = None
    if loss_fn.has_discriminator:
        disc_optimizer = torch.optim.Adam(loss_fn.discriminator.parameters(), lr=disc_lr or lr, betas=(0.5, 0.9),
                                          fused=True)  # fmt: skip
    return optimizer, disc_optimizer


def train_step(model, loss_fn, optimizer, disc_optimizer, x: torch.Tensor, generator: torch.Generator,
               classifier=None, cls_weight: float = 0.0) -> dict:  # fmt: skip
    """One optimisation step of the VAE (and of the discriminator, when there is one). A non-finite loss
    raises :class:`NonFiniteLoss` before any weight is changed.

    With a frozen ``classifier`` the loss gains StylEx's classifier term (Lang et al. 2021, Sec. 3),
    ``cls_weight * KL(C(x) || C(x_hat))`` on the reconstructions, so the latents must carry what the
    classifier reads.

    The VAE's loss reads the discriminator (FactorVAE's TC term) but must not train it, so the
    discriminator's weights are frozen for that backward: their gradients would be discarded anyway, and
    not computing them saves about a tenth of a FactorVAE step. (Under DDP the wrapped discriminator is
    left alone: its reducer expects every gradient.)"""
    disc = getattr(loss_fn, "discriminator", None) if disc_optimizer is not None else None
    frozen = disc is not None and not isinstance(disc, torch.nn.parallel.DistributedDataParallel)
    if frozen:
        disc.requires_grad_(False)
    try:
        terms = loss_fn(model, x, generator)
        if classifier is not None:
            terms["cls_kl"] = prediction_kl(classifier(x), classifier(torch.sigmoid(terms["recon_logits"])))
            terms["loss"] = terms["loss"] + cls_weight * terms["cls_kl"]
        if not torch.isfinite(terms["loss"].detach()):
            raise NonFiniteLoss(float(terms["loss"].detach()))
        optimizer.zero_grad(set_to_none=True)
        terms["loss"].backward()
    finally:
        if frozen:
            disc.requires_grad_(True)
    optimizer.step()
    if disc_optimizer is not None:
        disc_loss = loss_fn.discriminator_loss(terms["z"], generator)
        disc_optimizer.zero_grad(set_to_none=True)
        disc_loss.backward()
        disc_optimizer.step()
        terms["disc_loss"] = disc_loss
    return terms


def train_vae(
    source,
    out_dir,
    settings: TrainSettings,
    model_config: dict | None = None,
    objective: str = "beta-vae",
    objective_params: dict | None = None,
    resume: bool = False,
    callback=None,
    callback_every: int = 1000,
    classifier=None,
    cls_weight: float = 10.0,
    classifier_run: str | None = None,
):
    """Train a :class:`ConvVAE` on ``source`` into ``out_dir``; returns the trained model (eval mode).

    ``callback(step, model) -> dict | None``, when given, runs every ``callback_every`` steps on rank 0 (the
    model in eval mode, back in train mode afterwards); what it returns is added to that step's log record,
    with its own time under ``callback_s`` (not counted in ``time_s``, the training time). ``time_s`` and the
    summary's ``seconds`` count training time over all sessions of a resumed run.

    ``classifier`` (an ``nn.Module`` from images in [0, 1] to logits, frozen here) adds StylEx's classifier
    term with weight ``cls_weight`` (see :func:`train_step`); ``classifier_run`` names it in the config."""
    settings.validate()
    rank, world = distributed_context()
    model_config = {"in_channels": source.channels, "image_size": source.image_size, **(model_config or {})}
    torch.manual_seed(settings.seed)
    device = training_device(settings, world)
    model = build_model("vae", model_config).to(device=device, memory_format=torch.channels_last)
    model.train_precision = settings.precision
    loss_fn = build_objective(objective, model.latent_dim, **(objective_params or {})).to(device)
    if hasattr(loss_fn, "check"):
        loss_fn.check(model)  # e.g. an attention layer the model lacks: refused before the run folder is written
    if classifier is not None:
        classifier = check_classifier(classifier, model_config, device)
    config = {
        "kind": "vae",
        "model": model.config_dict(),
        "objective": {"name": objective, "hparams": loss_fn.hparams()},
        "train": {**vars(settings), "data": source.name, "world_size": world, "device": str(device)},
    }
    if classifier is not None:
        config["classifier"] = {"run": classifier_run, "cls_weight": cls_weight}
    writer = RunWriter(out_dir, config, resume, rank)
    optimizer, disc_optimizer = make_optimizers(model, loss_fn, settings.lr, settings.disc_lr)
    modules, optimizers = {"model": model}, {"model": optimizer}
    if disc_optimizer is not None:
        modules["discriminator"], optimizers["discriminator"] = loss_fn.discriminator, disc_optimizer
    start = writer.start_step(modules, optimizers, resume)

    ddp_model = wrap_ddp(model, world)
    if loss_fn.has_discriminator and world > 1:
        loss_fn.discriminator = wrap_ddp(loss_fn.discriminator, world)
    model.train()
    timer, began, paused = StepTimer(), time.perf_counter(), 0.0
    cpu_began, cpu_paused = time.process_time(), 0.0
    disc_scale = (settings.disc_lr or settings.lr) / settings.lr
    bar = progress_bar(settings.steps, start, settings.progress and rank == 0, f"train vae ({objective})")
    for step in range(start, settings.steps):
        lr = settings.lr_at(step)
        set_lr(optimizer, lr)
        set_lr(disc_optimizer, lr * disc_scale)
        x = to_channels_last(source.batch(settings.batch_size, step_rng(settings.seed, step, rank)).to(device))
        generator = step_generator(settings.seed, step, rank)
        try:
            terms = train_step(ddp_model, loss_fn, optimizer, disc_optimizer, x, generator, classifier, cls_weight)
        except NonFiniteLoss as exc:
            bar.close()
            saved = ckpt_step(out_dir)
            raise LatentLensError(
                f"training diverged at step {step + 1}: {exc}; the last good checkpoint (step {saved}) is kept in "
                f"{out_dir} - lower --lr and continue with --resume"
            ) from None
        timer.add(len(x) * world)
        bar.update(1)
        done = step + 1
        record = None
        if done % settings.log_every == 0 or done == settings.steps:
            record = {k: float(v.detach()) for k, v in terms.items() if torch.is_tensor(v) and v.dim() == 0}
            if "kl_per_dim" in terms:
                record["kl_per_dim"] = [round(float(v), 4) for v in terms["kl_per_dim"]]
            record.update(step=done, lr=lr, images_per_s=round(timer.rate(), 1),
                          time_s=round(writer.elapsed_s + time.perf_counter() - began - paused, 2),
                          cpu_s=round(writer.elapsed_cpu_s + time.process_time() - cpu_began - cpu_paused, 2))  # fmt: skip
        if callback is not None and rank == 0 and (done % callback_every == 0 or done == settings.steps):
            t0, c0 = time.perf_counter(), time.process_time()
            model.eval()
            extra = callback(done, model) or {}
            model.train()
            spent = time.perf_counter() - t0
            paused, timer.last = paused + spent, timer.last + spent
            cpu_paused += time.process_time() - c0
            base = record or {"step": done, "time_s": round(writer.elapsed_s + t0 - began - paused + spent, 2)}
            record = {**base, **extra, "callback_s": round(spent, 2)}
        if record is not None:
            writer.log(record)
            if "loss" in record:
                bar.set_postfix(loss=f"{record['loss']:.1f}")
        if done % settings.checkpoint_every == 0 and done < settings.steps:
            writer.checkpoint(done, modules, optimizers, model)
    bar.close()
    if loss_fn.has_discriminator:
        loss_fn.discriminator = modules["discriminator"]
    writer.checkpoint(settings.steps, modules, optimizers, model)
    seconds = round(writer.elapsed_s + time.perf_counter() - began - paused, 2)
    cpu_seconds = round(writer.elapsed_cpu_s + time.process_time() - cpu_began - cpu_paused, 2)
    summary = {"steps": settings.steps, "seconds": seconds, "cpu_seconds": cpu_seconds,
               "threads": torch.get_num_threads()}  # fmt: skip
    if rank == 0:
        summary.update(latent_usage(read_jsonl(writer.log_path)))
        if summary.get("collapsed_warning"):
            log.warning("%s", summary["collapsed_warning"])
    writer.finish(settings.steps, model, summary)
    return model.eval()


def check_classifier(classifier, model_config: dict, device):
    """The frozen classifier in eval mode on ``device``, refused in one line unless it maps a batch of the
    VAE's images to a row of logits per image."""
    if not isinstance(classifier, torch.nn.Module):
        raise LatentLensError(f"the classifier must be an nn.Module returning logits, got {type(classifier).__name__}")
    classifier = classifier.to(device).eval().requires_grad_(False)
    c, size = model_config["in_channels"], model_config["image_size"]
    try:
        with torch.no_grad():
            logits = classifier(torch.zeros(2, c, size, size, device=device))
    except RuntimeError as exc:
        raise LatentLensError(f"the classifier cannot read the VAE's {c}x{size}x{size} images: {exc}") from None
    if not torch.is_tensor(logits) or logits.dim() != 2 or logits.shape[0] != 2 or logits.shape[1] < 2:
        shape = tuple(logits.shape) if torch.is_tensor(logits) else type(logits).__name__
        raise LatentLensError(f"the classifier must return logits (N, classes >= 2) for the VAE's images, got {shape}")
    return classifier


COLLAPSE_NATS = 0.05  # a latent dimension whose KL stays below this carries (almost) no information


def latent_usage(records: list[dict], window: int = 10) -> dict:
    """KL per latent dimension averaged over the last ``window`` log records, which dimensions are active
    (KL >= :data:`COLLAPSE_NATS`), and a warning when most (more than half) have collapsed to the prior."""
    rows = [r["kl_per_dim"] for r in records if "kl_per_dim" in r][-window:]
    if not rows:
        return {}
    kl = [sum(col) / len(col) for col in zip(*rows)]
    active = [j for j, v in enumerate(kl) if v >= COLLAPSE_NATS]
    out = {"kl_per_dim": [round(v, 4) for v in kl], "active_dims": active}
    if len(active) * 2 < len(kl):
        out["collapsed_warning"] = (
            f"{len(kl) - len(active)} of {len(kl)} latent dimensions collapsed (KL < {COLLAPSE_NATS} nats): the model "
            "ignores them. Train longer, raise --lr, or lower --beta / --gamma"
        )
    return out


def disentanglement_probe(dataset, metrics=("factor_vae", "mig"), preset: str = "fast", seed: int = 0,
                          overrides: dict | None = None):  # fmt: skip
    """A training callback that scores the model's encoder mean on ground-truth ``dataset`` (the metrics
    harness with a fixed seed, so successive scores differ only by the model), returning
    ``{"eval_<score>": value}`` for the log."""
    from ..metrics import evaluate_representation, vae_representation
    from ..metrics.harness import SCORE_KEYS

    def probe(step, model):
        result = evaluate_representation(dataset, vae_representation(model), list(metrics), preset, seed,
                                         overrides=overrides)  # fmt: skip
        keys = [k for m in metrics for k in SCORE_KEYS[m]]
        return {f"eval_{k}": round(float(result[k]), 4) for k in keys}

    return probe
