"""``latentlens attributes --classifier RUN --generator RUN --data FOLDER --target CLASS --out DIR``: which
attributes of a generator (a VAE trained on the same images) move a classifier's decision, ranked by StylEx's
and DiffEx's AttFind, with counterfactual pictures and the sufficiency curve; a thin wrapper over
:func:`latentlens.workflows.attributes.attributes_run`."""

from __future__ import annotations

import logging

from . import positive_float, positive_int, seed

log = logging.getLogger(__name__)


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("attributes", help="explain a classifier by the generative attributes that change it")
    p.add_argument("--classifier", required=True, help="classifier run folder (latentlens train classifier), or zoo:NAME")
    p.add_argument("--generator", required=True,
                   help="a VAE or a diffusion autoencoder (train diffae) run folder trained on the same kind of images")  # fmt: skip
    p.add_argument("--data", required=True, help="labelled images: a folder per class")
    p.add_argument("--target", required=True, help="the class to explain")
    p.add_argument("--source", default="coordinates",
                   help="coordinates (z or z_sem), directions:NAME (an artifact of the generator run), or latentclr "
                        "(contrastive directions fitted on the encoded images, as DiffEx)")  # fmt: skip
    p.add_argument("--render-steps", type=positive_int, default=10, help="diffusion autoencoder: DDIM steps per image")
    p.add_argument("--strength", type=positive_float, default=1.5, help="edit size in latent standard deviations")
    p.add_argument("--attributes", type=positive_int, default=5)
    p.add_argument("--n", type=positive_int, default=200, help="opposite-class images to score on")
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..workflows.attributes import attributes_run

    r = attributes_run(args.classifier, args.generator, args.data, args.target, args.out, args.source, args.strength,
                       args.attributes, args.n, args.seed, args.device, args.render_steps)  # fmt: skip
    log.info("attributes towards %s: %s; sufficiency %s (random %s)", r["target"],
             ", ".join(f"{p['label']}{'+' if p['sign'] else '-'}" for p in r["stylex"]),
             [round(v, 2) for v in r["sufficiency"]], [round(v, 2) for v in r["sufficiency_random"]])  # fmt: skip
    return 0
