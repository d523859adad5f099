"""Find, score and draw latent directions of a run's generator (``latentlens discover``)."""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from pathlib import Path

log = logging.getLogger(__name__)


N_ROWS = 4  # latents per traversal grid
ALPHAS = [-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0]  # shifts, in units of the direction's scale (viz.grids)

# h-space (a DDPM's bottleneck, in units of h's standard deviation): what each method name means there
H_METHODS = {
    "pca": ("ganspace", {"layer": "latent"}),  # PCA of sampled h
    # Zhang et al.: K global directions, started at the principal axes of sampled h (the random start's
    # directions barely move the images: reconstructor accuracy 0.16 against 0.52 from PCA, zoo DDPM, strength 30)
    "voynov": ("voynov", {"deformator": "proj", "init": "pca", "reconstructor_size": 32, "lr": 1e-3,
                          "batch_size": 16, "n_steps": 200, "n_eval": 200}),
    "random": ("random", {}),
    "coordinate": ("coordinate", {}),  # single h units (channel x position) as directions
}  # fmt: skip
H_DEFAULTS = {"steps": 10, "t_edit": 0.2, "mode": "asyrp", "strength": 30.0}  # at 6 std every method is at chance on the zoo DDPM
H_EVAL = {"rca": {"n_train": 1000, "n_eval": 400, "epochs": 4}}


def _h_shifts(hspace: dict) -> dict:
    """Voynov's shift range for h-space strength s: eps ~ U[-s, s] with |eps| >= s / 12 (0.5 at s = 6)."""
    strength = float(hspace["strength"])
    return {"shift_scale": strength, "min_shift": strength / 12}


def discover(
    run_dir, methods: list[str], k: int | None = None, out=None, seeds=(0,), steps: int | None = None,
    evaluation: str = "fast", show_progress: bool = False, finder_params: dict | None = None,
    eval_params: dict | None = None, latents: str = "auto", force: bool = False, device="cpu",
    adapter: dict | None = None, data: str | None = None, space: str = "auto", hspace: dict | None = None,
) -> dict:  # fmt: skip
    """Fit ``methods`` on the generator of ``run_dir`` for every seed, save artifacts and pictures, evaluate.

    ``run_dir`` is a run folder, ``zoo:NAME``, or a model object (a generator module, a VAE, or anything
    :func:`latentlens.directions.as_generator` accepts; ``adapter`` holds its options, e.g. ``latent_dim`` or
    ``output_range``; ``out`` is then required). ``data="dsprites"`` declares that a model draws dSprites,
    which turns on factor alignment. ``space="h"`` (the default for a DDPM run) works in the diffusion model's
    h-space (:class:`~latentlens.directions.hspace_generator.HSpaceGenerator`; ``hspace`` sets its DDIM
    ``steps``, ``t_edit``, ``mode`` and the ``strength`` s: pictures show shifts in [-s, s], Voynov trains and
    RCA scores on shifts up to s):
    methods ``pca`` (PCA of sampled h), ``voynov`` (Zhang et al.'s global directions trained through the chain)
    and ``random``; edit homogeneity and linearity are measured too. Returns the ``metrics.json`` entries of these methods. A method
    already in ``metrics.json`` with the same setup (k, seeds, steps, evaluation, latents, parameters,
    model) is not redone unless ``force``.
    """
    import torch

    from ..directions import build_finder
    from ..errors import LatentLensError
    from ..io import output_folder, read_json, update_json
    from ..metrics.directions import summarize
    from ..directions.generators import model_hash
    from ._runs import diffusion_options, open_model

    run_dir, config, model = open_model(run_dir, out, device, adapter)
    if data is not None:
        config["data"] = data
    space = _space(space, config, model)
    hspace = {**H_DEFAULTS, **(hspace or {})} if space == "h" else None
    if space == "h":
        from ..directions.hspace_generator import HSpaceGenerator

        unknown = [m for m in methods if m not in H_METHODS]
        if unknown:
            raise LatentLensError(f"method {unknown[0]!r} does not apply to h-space (use {', '.join(H_METHODS)})")
        generator = HSpaceGenerator(model, steps=int(hspace["steps"]), t_edit=float(hspace["t_edit"]),
                                    mode=hspace["mode"], **diffusion_options(config, model))  # fmt: skip
        half = float(hspace["strength"]) / 2  # RCA's shifts span what the traversals show, as Voynov's training does
        defaults = {"rca": {**H_EVAL["rca"], **_h_shifts(hspace)}, "alignment": {"amplitude": half},
                    "consistency": {"amplitude": half, "curve_octaves": 3}}  # fmt: skip
        given, eval_params = eval_params or {}, dict(defaults)
        for key, value in given.items():
            eval_params[key] = {**defaults[key], **value} if key in defaults and isinstance(value, dict) else value
    else:
        generator = _generator(model, config, latents)
    if k is not None and k > generator.latent_dim:
        raise LatentLensError(f"--k {k} exceeds the latent dimension {generator.latent_dim} of {run_dir}")
    if config["kind"] == "module":  # a model object: ``out`` is its run folder, as for --model on the CLI
        out = None
    out = output_folder(Path(out) if out is not None else Path(run_dir) / "directions")
    evaluator = _Evaluator(model, generator, config, evaluation, show_progress, eval_params or {})
    z_show = generator.sample_latents(N_ROWS, torch.Generator().manual_seed(seeds[0] + 2024)).float()
    metrics_path = out / "metrics.json"
    results: dict = {}
    for method in methods:
        setup = {"k": k, "seeds": list(seeds), "steps": steps, "evaluation": evaluation, "latents": latents,
                 "params": dict(finder_params or {}).get(method, {}), "model_hash": model_hash(generator)}  # fmt: skip
        if hspace is not None:
            setup["hspace"] = hspace
        done = (read_json(metrics_path).get("methods", {}) if metrics_path.is_file() else {}).get(method)
        if not force and done and done.get("setup") == setup and (out / f"{method}.safetensors").is_file():
            log.info("discover: %s already done in %s (use --force to redo)", method, out)
            results[method] = done
            continue
        per_seed = []
        for i, seed in enumerate(seeds):
            params = dict(finder_params or {}).get(method, {})
            name, defaults = H_METHODS[method] if hspace is not None else (method, {})
            if hspace is not None and name == "voynov":  # trained on the shifts the traversals show
                defaults = {**defaults, **_h_shifts(hspace)}
            kwargs = {"n_directions": k, "random_state": seed, "show_progress": show_progress, **defaults, **params}
            if steps is not None:
                kwargs["n_steps"] = steps
            finder = build_finder(name, **kwargs)
            started = time.perf_counter()
            finder.fit(generator)
            fit_seconds = time.perf_counter() - started
            dirs = finder.directions_
            if hspace is not None:  # traversals and edits in [-s, s] standard deviations of h
                dirs = replace(dirs, scales=torch.full((len(dirs),), hspace["strength"] / max(ALPHAS)), method=method,
                               extra={**dirs.extra, "hspace": hspace, "finder": name})  # fmt: skip
            log.info("discover: %s seed %d: %d directions in %.1f s", method, seed, len(dirs), fit_seconds)
            record = {"seed": seed, "fit_seconds": round(fit_seconds, 3)}
            record.update(evaluator(dirs, seed))
            per_seed.append(record)
            if i == 0:
                dirs.save(out / method)
                _pictures(generator, dirs, z_show, out, method, record.get("alignment"))
        entry = {
            "method": method, "n_directions": len(dirs), "seeds": list(seeds),
            "score_name": finder.directions_.score_name, "per_seed": per_seed,
            "summary": summarize(per_seed),
        }  # fmt: skip
        for key, stats in entry["summary"].items():
            entry[key] = stats["mean"]
        if per_seed and "alignment" in per_seed[0]:
            entry["alignment"] = per_seed[0]["alignment"]
        entry["setup"] = setup
        results[method] = entry
        # written after every method, so an interrupted comparison resumes with the next one
        previous = read_json(metrics_path) if metrics_path.is_file() else {}
        update_json(metrics_path, {"methods": {**previous.get("methods", {}), method: entry}, "run": str(run_dir),
                                   "model_hash": model_hash(generator), "latent_space": getattr(generator, "latent_space", "z"),
                                   **({"hspace": hspace} if hspace is not None else {}), **evaluator.info()})  # fmt: skip
    if len(methods) > 1:
        update_json(metrics_path, {"compare": {"methods": methods, "seeds": list(seeds)}})
    return results


def _space(space: str, config: dict, model) -> str:
    """``z`` or ``h``: ``auto`` is ``h`` for a diffusion model (its latent is h-space) and ``z`` otherwise."""
    from ..errors import LatentLensError

    if space not in ("auto", "z", "h"):
        raise LatentLensError(f"space must be 'auto', 'z' or 'h', got {space!r}")
    from ._runs import is_diffusion

    diffusion = is_diffusion(config, model)
    if space == "auto":
        return "h" if diffusion else "z"
    if diffusion and space == "z":
        raise LatentLensError("a diffusion model has no z to search: use --space h (its bottleneck)")
    if space == "h" and not diffusion and config.get("kind") != "module":  # a user module may still be one
        raise LatentLensError(f"--space h needs a diffusion model (a DDPM run), not a {config.get('kind')} run")
    return space


def _generator(model, config: dict, latents: str):
    """The run's generator; for a VAE with ``latents`` posterior/auto, base latents are encoder means of
    2,000 training images (a young VAE's prior often decodes to empty images)."""
    import numpy as np

    from ..directions import as_generator
    from ..directions.generators import VAEDecoderGenerator
    from ..errors import LatentLensError

    from ..directions.generators import looks_like_vae
    from ._runs import generator_options, run_data

    adapter = generator_options(config)
    if latents == "prior" or not looks_like_vae(model):
        if latents == "posterior":
            raise LatentLensError("--latents posterior needs a VAE (an encoder to read the data with)")
        return as_generator(model, **adapter)
    data = run_data(config)
    try:
        from ..data.sources import make_source

        size, channels = _image_format(model, data, config.get("adapter", {}).get("image_size"))
        source = make_source(data, size, channels)
        images = source.batch(2000, np.random.default_rng(12345))
    except (LatentLensError, TypeError, ValueError, OSError, AttributeError) as exc:
        if latents == "posterior":
            raise LatentLensError(f"--latents posterior needs the run's training data ({data!r}): {exc}") from None
        log.info("discover: training data %r not available, using the prior N(0, I)", data)
        return as_generator(model, **adapter)
    return VAEDecoderGenerator.with_posterior(model, images, **adapter)


def _image_format(model, data, image_size=None) -> tuple[int, int | None]:
    """``(image_size, channels)`` the model reads: from its config, the recorded ``--model-image-size``, or
    64 x 1 for dSprites."""
    from ..errors import LatentLensError

    cfg = getattr(model, "config", None)
    if cfg is not None and hasattr(cfg, "image_size"):
        return cfg.image_size, cfg.in_channels
    if data == "dsprites":
        return 64, 1
    if image_size:
        return image_size, None
    raise LatentLensError("the image size of this model is unknown (--model-image-size)")


class _Evaluator:
    """RCA for every run; factor alignment (and MIG/DCI with ``full``) for models trained on dSprites."""

    def __init__(self, model, generator, config, evaluation, show_progress, params):
        self.model, self.generator, self.evaluation, self.params = model, generator, evaluation, params
        self.show_progress = show_progress
        from ._runs import run_data

        self.dsprites = run_data(config) == "dsprites"
        self._predictor = self._reference = self._posthoc = None

    def info(self) -> dict:
        return {"alignment_available": self.dsprites and self.evaluation != "none"}

    def _ensure_predictor(self):
        if self._predictor is None:
            from ..metrics.directions import load_or_train_factor_predictor, reference_changes

            self._predictor = load_or_train_factor_predictor(show_progress=self.show_progress)
            self._reference = reference_changes(self._predictor)
        return self._predictor

    def _ensure_posthoc(self, seed: int):
        if self._posthoc is None:
            from ..metrics.directions import dsprites_latents, latent_function, train_latent_encoder

            encoder = None
            if not hasattr(self.model, "encode"):
                encoder = train_latent_encoder(self.generator, show_progress=self.show_progress,
                                               **self.params.get("encoder", {}))  # fmt: skip
            fn = latent_function(self.model, encoder)
            n_train, n_test = self.params.get("posthoc_points", (4000, 2000))
            lt, ft = dsprites_latents(fn, n_train, random_state=1000 + seed)
            le, fe = dsprites_latents(fn, n_test, random_state=2000 + seed)
            self._posthoc = (lt, ft, le, fe)
        return self._posthoc

    def __call__(self, dirs, seed: int) -> dict:
        from ..metrics.directions import evaluate_directions

        if self.evaluation == "none":
            return {}
        wants_alignment = self.dsprites and not self.params.get("skip_alignment", False)
        predictor = self._ensure_predictor() if wants_alignment else None
        posthoc = self._ensure_posthoc(seed) if (self.dsprites and self.evaluation == "full") else None
        result = evaluate_directions(
            self.generator, dirs, predictor=predictor, reference=self._reference, posthoc=posthoc,
            rca_kwargs=self.params.get("rca"), alignment_kwargs=self.params.get("alignment"),
            posthoc_kwargs=self.params.get("posthoc"), random_state=seed,
        )  # fmt: skip
        result.pop("rca_detail", None)
        if "consistency" in self.params:
            from ..metrics.edit_consistency import edit_consistency

            consistency = edit_consistency(self.generator, dirs, random_state=seed, **self.params["consistency"])
            result.update({k: consistency[k] for k in ("homogeneity", "homogeneity_random", "homogeneity_gain",
                                                       "linearity")})  # fmt: skip
            result["linearity_curve"] = {str(a): v for a, v in consistency["linearity_curve"].items()}
        return result


def _pictures(generator, dirs, z_show, out: Path, method: str, alignment: dict | None) -> None:
    from ..viz.grids import direction_grid, direction_sheet
    from ..viz.html import save_png

    folder = out / method
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(len(dirs)):
        save_png(direction_grid(generator, dirs, k, z_show, ALPHAS), folder / f"direction_{k:02d}.png")
    save_png(direction_sheet(generator, dirs, z_show[:1], ALPHAS), out / f"{method}_sheet.png")


DEMO_FINDER_PARAMS = {
    "voynov": {"n_steps": 300, "batch_size": 32, "lr": 1e-3, "deformator_lr": 1e-3, "reconstructor_size": 32,
               "n_eval": 300},
}  # fmt: skip
DEMO_EVAL_PARAMS = {"rca": {"n_train": 1000, "n_eval": 400, "epochs": 4}, "alignment": {"n_samples": 32}}
