"""``latentlens attributes``: which attributes of a generator move a classifier's decision, shown as pictures.

Inputs: a classifier (a ``train classifier`` run, or any module through ``--model``-style external runs), a
VAE or a classifier-aware diffusion autoencoder (``train diffae``, DiffEx's attribute source) trained on the
same kind of images, labelled images (a folder per class, as the classifier was trained on), a target class.
The attribute source is the latent coordinates (``coordinates``: a VAE's z or the autoencoder's z_sem), the
directions of a Directions artifact in the generator's run folder (``directions:NAME``, e.g. SeFa's), or
LatentCLR directions fitted on the encoded images' latents (``latentclr``, as DiffEx does in z_sem), or the
independent components of the encoded latents (``ica``: FastICA's mixing directions, not from the papers), or
what varies more among the images the classifier assigns to the target class than among the others, split
into independent parts (``contrast``: contrastive PCA then FastICA, not from the papers). The
autoencoder's images are re-drawn from their own stochastic encoding x_T with the edited z_sem.

Images of the other classes are encoded; every attribute is applied with both signs (``strength`` latent
standard deviations); the classifier's logit changes go through StylEx's AttFind and its probability
changes through DiffEx's (:mod:`latentlens.explain.attributes`). Written into ``OUT``:

- ``attributes.json``: both rankings, the sufficiency curve (flip rate to the target when the top-k attributes
  are applied together) beside the same for k random directions, and with a factor table (``factors.csv``
  of synthetic cells) the change of each factor each attribute causes in the pictures, read by a factor
  regressor fitted on the labelled images or, for a VAE, on its reconstructions of them (its held-out R^2 per
  factor beside it), in standard deviations of the factor over the edited images, for StylEx's picks
  (``factor_effects``) and DiffEx's (``diffex_factor_effects``); for a diffusion autoencoder, the class
  agreements its training recorded (``generator_check``: round trips, and its own against another image's z_sem
  decoded from fresh noise, with the classifier it was trained with);
- ``attribute_<i>.png``: per ranked attribute, the images it moves most: the original and the edit at
  growing strength, with the classifier's probability of the target class above each image.
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path

import numpy as np
import torch

log = logging.getLogger(__name__)

STRENGTHS = (0.0, 0.5, 1.0, 1.5, 2.0)
READABLE_R2 = 0.25  # a factor the regressor explains less of on held-out images is not read


def _factor_table(folder: Path, paths) -> dict | None:
    table = folder / "factors.csv"
    if not table.is_file():
        return None
    with open(table, newline="") as handle:
        rows = {r["file"]: r for r in csv.DictReader(handle)}
    out = {}
    for path in paths:
        rel = Path(path).relative_to(folder).as_posix()
        if rel in rows:
            out[rel] = {k: float(v) for k, v in rows[rel].items() if k not in ("file", "condition")}
    return out or None


def attributes_run(classifier_run, vae_run, data, target: str, out, source: str = "coordinates",
                   strength: float = 1.5, n_attributes: int = 5, n_images: int = 200, seed: int = 0,
                   device="cpu", render_steps: int = 50, clr_steps: int = 500, classes=None,
                   shift: str = "step", readout: str = "auto") -> dict:  # fmt: skip
    """Rank the attributes of ``vae_run`` by how they move ``classifier_run`` towards ``target`` (module docstring).

    ``classifier_run`` is a run folder, ``zoo:NAME`` or your own classifier (an ``nn.Module`` returning logits,
    or :func:`~latentlens.adapters.as_classifier`'s adapter); ``classes`` names its logits when neither the
    run nor the module does. ``vae_run`` is a run folder or your own VAE module (``out`` then holds its
    directions). The classifier reads images of its run's ``image_size``, else of the generator's.
    ``shift``: ``"step"`` edits every attribute by ``strength`` latent standard deviations; ``"range"`` moves each
    image's coordinate along an attribute to its minimum or maximum over the encoded images (StylEx's AttFind;
    ``strength`` is then unused). ``readout``: the factor regressor that names what each edit changes is fitted on
    the labelled ``"images"`` or on the VAE's ``"reconstructions"`` of them (the pictures edits are drawn as, so
    a blurred decoder is read in its own terms; a factor its reconstructions lose falls below the readable
    R^2); ``"auto"``: reconstructions for a VAE, images for a diffusion autoencoder."""
    from ..adapters import as_classifier, as_vae
    from ..data.labels import labelled_images
    from ..directions import Directions
    from ..errors import LatentLensError
    from ..explain.attributes import (attribute_effects, class_contrast_directions, diffex_attfind,
                                      independent_directions, range_displacements, signed_displacements,
                                      stylex_attfind, sufficiency)
    from ..io import output_folder, write_json
    from ..viz.overlays import caption, grid, save_png, to_rgb_uint8, upscale
    from ._runs import open_model

    _, clf_config, clf_model = open_model(classifier_run, out, device)
    vae_dir, vae_config, vae_model = open_model(vae_run, out, device)
    classes = classes or clf_config["adapter"].get("classes")
    if classes is None and getattr(clf_model, "classes", None) is None:
        raise LatentLensError("name the classifier's classes (classes=[...] in Python, --classes a,b on the command "
                              "line), in the order of its logits")  # fmt: skip
    clf = as_classifier(clf_model, classes)
    if target not in clf.classes:
        raise LatentLensError(f"target {target!r} is not one of the classifier's classes {clf.classes}")
    t = clf.classes.index(target)
    if shift not in ("step", "range"):
        raise LatentLensError(f"shift must be 'step' or 'range', got {shift!r}")
    if readout not in ("auto", "images", "reconstructions"):
        raise LatentLensError(f"readout must be 'auto', 'images' or 'reconstructions', got {readout!r}")
    is_diffae = getattr(vae_model, "config", None) is not None and type(vae_model).__name__ == "DiffAE"
    if is_diffae and readout == "reconstructions":
        raise LatentLensError("readout 'reconstructions' needs a VAE; a diffusion autoencoder's read-out is fitted "
                              "on the images")  # fmt: skip
    readout = ("images" if is_diffae else "reconstructions") if readout == "auto" else readout
    vae = None if is_diffae else as_vae(vae_model, output_range=vae_config["adapter"].get("output_range") or "unit")
    own = getattr(getattr(clf.module, "config", None), "image_size", None) or clf_config["adapter"].get("image_size")
    size = own or _decoded_size(vae_model if is_diffae else vae)
    channels = getattr(getattr(clf.module, "config", None), "in_channels", None)
    out = output_folder(out)  # marked before the data is read: its pictures never join the data, even on a rerun
    images = labelled_images(data, None, size, channels, max_classes=1000)  # folders latentlens wrote are left out
    x = images.images.float().div(255)
    device_ = next(iter(vae_model.parameters())).device
    clf.to(device_)
    with torch.inference_mode():
        class_logits = torch.cat([clf(x[i : i + 256].to(device_)).cpu() for i in range(0, len(x), 256)])
    others = np.flatnonzero(class_logits.argmax(1).numpy() != t)
    if len(others) == 0:
        raise LatentLensError(f"every image is already classified as {target!r}: nothing to explain")
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.permutation(others)[:n_images])
    generator_check = _semantic_check(vae_dir) if is_diffae else None
    if is_diffae:
        latents = _DiffAELatents(vae_model, clf, x, chosen, render_steps)
    else:
        latents = _VAELatents(vae, x, chosen)
    z_all, z, decode = latents.z_all, latents.z, latents.decode
    if source == "coordinates":
        dirs = torch.eye(z_all.shape[1])
        labels = [f"z{i}" for i in range(z_all.shape[1])]
    elif source.startswith("directions:"):
        d = Directions.load(Path(vae_dir) / "directions" / source.split(":", 1)[1])
        if d.latent_dim != z_all.shape[1]:
            raise LatentLensError(f"the directions live in a {d.latent_dim}-d space, the latents have {z_all.shape[1]}")
        dirs, labels = d.basis, [d.label(i) for i in range(len(d))]
    elif source == "ica":
        dirs = independent_directions(z_all, random_state=seed)
        labels = [f"ica{i}" for i in range(len(dirs))]
    elif source == "contrast":
        dirs = class_contrast_directions(z_all, class_logits.argmax(1).numpy() == t, random_state=seed)
        labels = [f"contrast{i}" for i in range(len(dirs))]
    elif source == "latentclr":
        from ..directions.contrastive import LatentCLR

        k = min(10, z_all.shape[1])
        finder = LatentCLR(n_directions=k, n_steps=clr_steps, batch_size=64, random_state=seed).fit(_LatentBank(z_all))
        dirs, labels = finder.directions_.basis, [f"clr{i}" for i in range(k)]
        finder.directions_.save(out / "latentclr")
    else:
        raise LatentLensError(f"source must be 'coordinates', 'directions:NAME', 'ica', 'contrast' or 'latentclr', "
                              f"got {source!r}")  # fmt: skip
    scale = float(z_all.std(0).mean())  # one strength unit = the typical spread of a latent coordinate

    def displacements(unpadded):
        if shift == "range":
            return range_displacements(z, unpadded, z_all)
        return signed_displacements(strength * scale, len(z), len(unpadded))

    delta = displacements(dirs)
    dirs = latents.pad(dirs)

    def classify(img):
        return clf(img)

    logits, probs = attribute_effects(decode, classify, z, dirs, delta, softmax="both")
    probs = probs[..., t]
    stylex = stylex_attfind(logits, t, np.full(len(z), -1), n_attributes=n_attributes)
    diffex = diffex_attfind(probs, n_attributes=n_attributes)
    suff = sufficiency(decode, classify, z, dirs, stylex, delta, t)
    g = torch.Generator().manual_seed(seed)
    random_dirs = torch.randn(len(stylex), z_all.shape[1], generator=g)
    random_dirs = random_dirs / random_dirs.norm(dim=1, keepdim=True)
    random_suff = sufficiency(decode, classify, z, latents.pad(random_dirs), [{"attribute": i, "sign": 1} for i in range(len(stylex))],
                              displacements(random_dirs), t) if stylex else []  # fmt: skip
    picked = {(p["attribute"], p["sign"]): p for p in stylex + diffex}  # each pick read once, one regressor for both
    recon = latents.reconstructions() if readout == "reconstructions" else None
    read, readout_r2 = _factor_effects(decode, z, dirs, list(picked.values()), delta, images, Path(data),
                                       seed, edited=chosen, fitted_on=recon)  # fmt: skip
    read = {(e["attribute"], e["sign"]): e for e in read}
    factor_effects = [read[(p["attribute"], p["sign"])] for p in stylex if read]
    diffex_factor_effects = [read[(p["attribute"], p["sign"])] for p in diffex if read]
    fractions = torch.tensor(STRENGTHS) / (max(STRENGTHS) if shift == "range" else 1.0)  # of each pick's edit
    for rank, pick in enumerate(stylex):
        k = pick["attribute"]
        moved = np.argsort(-logits[:, pick["sign"], k, t])[:4]
        rows = []
        with torch.inference_mode():
            for i in moved:
                lat = z[i][None] + fractions[:, None] * delta[i, pick["sign"], k] * dirs[k][None]
                edited = decode(lat)
                p_target = clf(edited).softmax(1)[:, t].cpu()
                tiles = [upscale(to_rgb_uint8(im.cpu()), max(1, 96 // im.shape[-1])) for im in edited]
                rows.append([caption(tile, f"p {p:.2f}") for tile, p in zip(tiles, p_target.tolist())])
        save_png(out / f"attribute_{rank}.png", grid(rows))
    result = {
        "target": target, "classes": clf.classes, "source": source, "attribute_labels": labels,
        "strength": strength if shift == "step" else None, "shift": shift, "latent_scale": scale,
        "n_images": int(len(z)), "n_data_images": len(images),
        "stylex": [{**p, "label": labels[p["attribute"]]} for p in stylex],
        "diffex": [{**p, "label": labels[p["attribute"]]} for p in diffex],
        "sufficiency": suff, "sufficiency_random": random_suff, "factor_effects": factor_effects or None,
        "diffex_factor_effects": diffex_factor_effects or None,
        "factor_readout_r2": readout_r2 or None, "factor_readout": readout, "generator_check": generator_check,
        "files": [f"attribute_{i}.png" for i in range(len(stylex))],
    }  # fmt: skip
    write_json(out / "attributes.json", result)
    return result


def _semantic_check(run_dir) -> dict | None:
    """The class agreements ``train diffae`` recorded for this autoencoder, measured with the classifier it was
    trained with (``classifier``); warns when its z_sem, which the attributes edit, holds little of that
    classifier's class (its edits can then barely move a classifier)."""
    from ..io import read_json
    from ..train.checkpoint import load_run_config
    from ..train.diffae import z_sem_holds_little

    path = Path(run_dir) / "metrics.json"
    check = read_json(path).get("diffae") if path.is_file() else None
    if not check or "semantic_agreement" not in check:
        return None
    check = {**check, "classifier": load_run_config(run_dir).get("train", {}).get("classifier")}
    own, other = check["semantic_agreement"], check["semantic_agreement_other"]
    if z_sem_holds_little(own, other, check.get("n_images", 0)):
        log.warning("this autoencoder's z_sem holds little of the class of the classifier it was trained with "
                    "(decoded from fresh noise, an image's own z_sem keeps its class for %.0f %%, another image's "
                    "for %.0f %%): its attributes can barely move a classifier", 100 * own, 100 * other)  # fmt: skip
    return check


def _decoded_size(model) -> int:
    """The side of the images ``model`` decodes (a VAE adapter or a diffusion autoencoder)."""
    if hasattr(model, "image_shape"):
        return int(model.image_shape[-1])
    with torch.inference_mode():
        return int(model.decode(torch.zeros(1, model.latent_dim, device=next(iter(model.parameters())).device)).shape[-1])


class _VAELatents:
    """A VAE's encoder means: every latent edit is re-drawn by the decoder."""

    def __init__(self, vae, x: torch.Tensor, chosen: np.ndarray):
        self.vae = vae
        self.device = next(iter(vae.parameters())).device
        with torch.inference_mode():
            self.z_all = torch.cat([vae.encode(x[i : i + 256].to(self.device))[0].cpu() for i in range(0, len(x), 256)])
        self.z = self.z_all[chosen]

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        return self.vae.decode(latent.to(self.device))

    def reconstructions(self) -> torch.Tensor:
        """Every encoded image decoded again, as uint8 (the pictures the factor read-out is fitted on)."""
        with torch.inference_mode():
            batches = [self.z_all[i : i + 256] for i in range(0, len(self.z_all), 256)]
            out = torch.cat([self.decode(batch).float().cpu() for batch in batches])
        return out.mul(255).round().clamp(0, 255).to(torch.uint8)

    def pad(self, dirs: torch.Tensor) -> torch.Tensor:
        return dirs


class _DiffAELatents:
    """A diffusion autoencoder: the latent of an image is ``[z_sem, x_T]`` (its stochastic encoding), the
    attributes move z_sem only, and an edit is re-drawn from the image's own x_T."""

    def __init__(self, model, clf, x: torch.Tensor, chosen: np.ndarray, steps: int):
        self.model, self.steps = model, steps
        self.device = next(model.parameters()).device
        self.shape = model.image_shape
        with torch.inference_mode():
            def sem(batch):
                batch = batch.to(self.device)
                return model.semantic(batch, clf(batch).softmax(1) if model.config.n_classes else None).cpu()

            self.z_all = torch.cat([sem(x[i : i + 256]) for i in range(0, len(x), 256)])
            picked = x[chosen]
            x_T = torch.cat([model.stochastic_encode(picked[i : i + 64].to(self.device),
                                                     self.z_all[chosen][i : i + 64].to(self.device), steps).cpu()
                             for i in range(0, len(picked), 64)])  # fmt: skip
        self.sem_dim = self.z_all.shape[1]
        self.z = torch.cat([self.z_all[chosen], x_T.flatten(1)], dim=1)

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        latent = latent.to(self.device)
        z_sem, x_T = latent[:, : self.sem_dim], latent[:, self.sem_dim :].reshape(len(latent), *self.shape)
        return self.model.render(z_sem, x_T, self.steps)

    def pad(self, dirs: torch.Tensor) -> torch.Tensor:
        return torch.cat([dirs, torch.zeros(len(dirs), self.z.shape[1] - self.sem_dim)], dim=1)


class _LatentBank:
    """Encoded latents as the sampler LatentCLR reads (``features="latent"`` needs no generator)."""

    def __init__(self, z: torch.Tensor):
        self.z, self.latent_dim = z, z.shape[1]

    def sample_latents(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.z[torch.randint(0, len(self.z), (n,), generator=generator)]

    def __call__(self, z):  # LatentCLR on the latent never draws images
        raise NotImplementedError

    def parameters(self):
        return iter(())


def _factor_effects(decode, z: torch.Tensor, dirs: torch.Tensor, picks, delta: torch.Tensor, images, folder: Path,
                    seed: int, edited=None, fitted_on=None) -> tuple[list[dict], dict]:  # fmt: skip
    """Per picked attribute (edited by the signed displacements ``delta``, ``(images, 2, attributes)``), the
    mean change of each factor of the factor table between the decoded images and their edits, read off the pictures by a factor regressor fitted on the labelled images (what an
    edit does to the image, whatever latent it moves). Changes are in standard deviations of the factor
    over the edited images (``edited``: their indices in ``images``; the population the edit starts from,
    as cell-profiling features are z-scored against the control wells), else over all images. Returns the
    effects and the regressor's held-out R^2 per factor; factors constant over the table, and those the
    regressor cannot read from held-out images (R^2 below :data:`READABLE_R2`), are left out of the effects.
    ``fitted_on``: uint8 pictures, one per labelled image in ``images``' order (e.g. the generator's
    reconstructions of them), to fit the regressor on instead of the images themselves."""
    from ..train.classifier import fit_factor_regressor

    table = _factor_table(folder, images.paths)
    if table is None:
        return [], {}
    rows = [(i, table[Path(p).relative_to(folder).as_posix()]) for i, p in enumerate(images.paths)
            if Path(p).relative_to(folder).as_posix() in table]  # fmt: skip
    keys = sorted(next(iter(table.values())))
    values = np.array([[r[k] for k in keys] for _, r in rows])
    varying = values.std(0) > 1e-9
    keys, values = [k for k, v in zip(keys, varying) if v], values[:, varying]
    labelled = (images.images if fitted_on is None else fitted_on)[[i for i, _ in rows]]
    steps = int(np.clip(80 * len(labelled) / 64, 300, 1000))  # about 80 epochs
    regressor, _, sd, r2 = fit_factor_regressor(labelled, values, steps=steps, seed=seed)
    edited = None if edited is None else set(np.asarray(edited).tolist())
    start = [j for j, (i, _) in enumerate(rows) if edited is None or i in edited]
    unit = values[start].std(0) if len(start) >= 5 else sd
    unit = np.where(unit > 1e-9, unit, sd)

    def read(latents: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return torch.cat([regressor(decode(latents[i : i + 64]).float().cpu())[:, : len(keys)]
                              for i in range(0, len(latents), 64)])  # fmt: skip

    readable = np.flatnonzero(r2 >= READABLE_R2)
    r2_by_factor = {k: round(float(v), 3) for k, v in zip(keys, r2)}
    if not len(readable):
        return [], r2_by_factor
    base = read(z)
    out = []
    for p in picks:
        edited_z = z + delta[:, p["sign"], p["attribute"], None] * dirs[p["attribute"]][None]
        change = (read(edited_z) - base).mean(0).numpy() * sd / unit
        order = readable[np.argsort(-np.abs(change[readable]))]
        out.append({"attribute": p["attribute"], "sign": p["sign"], "main_factor": keys[order[0]],
                    "changes": {keys[j]: float(change[j]) for j in order}})  # fmt: skip
    return out, r2_by_factor
