"""``latentlens discover``: find interpretable latent directions of a trained run's generator.

::

    latentlens discover --run RUN --method sefa --k 8              # one method -> RUN/directions/
    latentlens discover --run RUN --compare sefa,ganspace,voynov,random --seeds 0,1,2

Writes into ``--out`` (default ``RUN/directions``):

- ``<method>.safetensors`` + ``<method>.json``: the Directions artifact (first seed);
- ``<method>/direction_<k>.png``: a traversal grid per direction (rows: latents, columns: shifts);
- ``<method>_sheet.png``: all directions of the method, one row each, from the same latent;
- ``metrics.json``: per method ``rca`` and (for models trained on dSprites) factor ``alignment``; with
  ``--eval full`` also post-hoc ``mig`` / ``dci``; with several seeds mean +- sd per metric.

With ``--compare`` every method runs on the same seeds and the same latents, and the random / coordinate
baselines are evaluated beside them. The HTML report (``latentlens report --run RUN``) shows the results.
"""

from __future__ import annotations

import logging

from ..workflows.discover import discover
from . import add_model_options, fraction, non_negative_float, positive_float, positive_int, run_folder, seed, seed_list

log = logging.getLogger(__name__)

def add_parser(subparsers) -> None:
    p = subparsers.add_parser("discover", help="find interpretable latent directions (SeFa, GANSpace, Voynov, ...)")
    add_model_options(p, required=False, data=True)
    group = p.add_mutually_exclusive_group()
    group.add_argument("--method", help="direction finder (see --list)")
    group.add_argument("--compare", help="comma-separated methods run side by side, e.g. sefa,ganspace,voynov,random")
    group.add_argument("--list", action="store_true", help="list the available methods and exit")
    p.add_argument("--k", type=positive_int, default=None, help="number of directions (default: latent dim)")
    p.add_argument("--out", default=None, help="output folder (default RUN/directions); with --model: the run folder")
    p.add_argument("--seed", type=seed, default=0, help="seed (first seed of --seeds)")
    p.add_argument("--seeds", type=seed_list, default=None,
                   help="comma-separated distinct seeds, e.g. 0,1,2 (mean +- sd in metrics.json)")  # fmt: skip
    p.add_argument("--steps", type=positive_int, default=None, help="training steps of learned methods (voynov)")
    p.add_argument("--eval", choices=("none", "fast", "full"), default="fast",
                   help="none; fast = RCA (+ dSprites factor alignment); full = also post-hoc MIG/DCI")  # fmt: skip
    p.add_argument("--latents", choices=("auto", "prior", "posterior"), default="auto",
                   help="base latents of a VAE: prior N(0, I), or encoder means of its training data "
                        "(auto: posterior when the data can be loaded)")  # fmt: skip
    p.add_argument("--no-baselines", action="store_true", help="with --compare, do not add random/coordinate")
    h = p.add_argument_group("h-space of a diffusion model (methods pca, voynov, random)")
    h.add_argument("--space", choices=("auto", "z", "h"), default="auto", help="auto: h for a DDPM run, z otherwise")
    h.add_argument("--ddim-steps", type=positive_int, default=10, help="DDIM steps of every image (default 10)")
    h.add_argument("--t-edit", type=fraction, default=0.2, help="shift h while t >= t_edit * T (default 0.2)")
    h.add_argument("--edit-mode", choices=("asyrp", "symmetric"), default="asyrp")
    h.add_argument("--strength", type=positive_float, default=30.0,
                   help="shifts in standard deviations of h: traversals span [-s, s], voynov trains and RCA scores on shifts up to s (default 30)")  # fmt: skip
    h.add_argument("--discriminator", type=non_negative_float, default=0.0,
                   help="voynov: weight of the realism discriminator (Zhang et al.; default 0 = off)")  # fmt: skip
    p.add_argument("--force", action="store_true", help="redo methods that metrics.json already holds")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


def _methods(args) -> list[str]:
    from ..directions import method_names
    from ..errors import LatentLensError

    from ..workflows.discover import H_METHODS

    known = method_names() + [m for m in H_METHODS if m not in method_names()]
    if args.compare:
        methods = [m.strip() for m in args.compare.split(",") if m.strip()]
        if not args.no_baselines:
            methods += [b for b in ("random", "coordinate") if b not in methods]
    elif args.method:
        methods = [args.method.strip()]
    else:
        raise LatentLensError("give --method NAME or --compare A,B,C (methods: " + ", ".join(known) + ")")
    unknown = [m for m in methods if m not in known]
    if unknown:
        raise LatentLensError(f"unknown method {unknown[0]!r} (known: {', '.join(known)})")
    return list(dict.fromkeys(methods))


def run(args) -> int:
    from ..directions import method_names

    if args.list:
        for name in method_names():
            print(name)  # CLI output, not library logging
        return 0
    from ..errors import LatentLensError

    if args.run is None and args.model is None:
        raise LatentLensError("give --run RUN (or zoo:NAME) or --model package.module:factory")
    methods, seeds = _methods(args), args.seeds or [args.seed]
    run_dir = run_folder(args)
    hspace = {"steps": args.ddim_steps, "t_edit": args.t_edit, "mode": args.edit_mode, "strength": args.strength}
    finder_params = {"voynov": {"discriminator_weight": args.discriminator}} if args.discriminator else None
    discover(
        run_dir=run_dir, methods=methods, k=args.k, out=None if args.model else args.out, seeds=seeds,
        steps=args.steps, evaluation=args.eval, show_progress=not args.no_progress, latents=args.latents,
        force=args.force, device=args.device, space=args.space, hspace=hspace, finder_params=finder_params,
    )  # fmt: skip
    return 0
