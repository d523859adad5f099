"""``latentlens attributes --classifier RUN --generator RUN --data FOLDER --target CLASS --out DIR``: which
attributes of a generator (a VAE trained on the same images) move a classifier's decision, ranked by StylEx's
and DiffEx's AttFind, with counterfactual pictures and the sufficiency curve; a thin wrapper over
:func:`latentlens.workflows.attributes.attributes_run`.

Your own classifier: ``--classifier-model package.module:factory [--classifier-weights FILE] --classes a,b``
(instead of ``--classifier``) is recorded as a run folder ``OUT/classifier`` that later runs can name with
``--classifier``; your own VAE is a run folder written by any command's ``--model`` (e.g. ``explain``)."""

from __future__ import annotations

import logging

from . import positive_float, positive_int, seed

log = logging.getLogger(__name__)


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("attributes", help="explain a classifier by the generative attributes that change it")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--classifier", help="classifier run folder (latentlens train classifier), or zoo:NAME")
    which.add_argument("--classifier-model",
                       help="your own classifier: package.module:factory (called with no arguments), returning logits")  # fmt: skip
    p.add_argument("--classifier-weights", default=None, help="with --classifier-model: a .safetensors or .pt state dict")
    p.add_argument("--classes", type=class_names, default=None,
                   help="the class names of the classifier's logits, in order, e.g. untreated,treated "
                        "(needed for --classifier-model unless its module has .classes)")  # fmt: skip
    p.add_argument("--classifier-image-size", type=positive_int, default=None,
                   help="with --classifier-model: the image size it reads (default: the generator's)")  # fmt: skip
    p.add_argument("--generator", required=True,
                   help="a VAE or a diffusion autoencoder (train diffae) run folder trained on the same kind of images")  # fmt: skip
    p.add_argument("--data", required=True, help="labelled images: a folder per class")
    p.add_argument("--target", required=True, help="the class to explain")
    p.add_argument("--source", default="coordinates",
                   help="coordinates (z or z_sem), directions:NAME (an artifact of the generator run), latentclr "
                        "(contrastive directions fitted on the encoded images, as DiffEx), ica (independent "
                        "components of the encoded images' latents) or contrast (independent parts of what varies "
                        "more among the images classified as the target than among the others)")  # fmt: skip
    p.add_argument("--render-steps", type=positive_int, default=50,
                   help="diffusion autoencoder: DDIM steps to encode and render each image (default 50, as DiffEx "
                        "encodes; it renders with 20, which lose the class of about a fifth of the round trips "
                        "of a small CPU-trained decoder)")  # fmt: skip
    p.add_argument("--strength", type=positive_float, default=1.5,
                   help="with --shift step: edit size in latent standard deviations")  # fmt: skip
    p.add_argument("--shift", choices=["step", "range"], default="step",
                   help="step: every attribute edited by --strength; range: each image moved to the attribute's "
                        "minimum or maximum over the encoded images (StylEx's AttFind)")  # fmt: skip
    p.add_argument("--readout", choices=["auto", "images", "reconstructions"], default="auto",
                   help="fit the factor read-out on the labelled images or on the VAE's reconstructions of them "
                        "(auto: reconstructions for a VAE, images for a diffusion autoencoder)")  # fmt: skip
    p.add_argument("--attributes", type=positive_int, default=5)
    p.add_argument("--n", type=positive_int, default=200, help="opposite-class images to score on")
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=run)


def class_names(text: str) -> list[str]:
    """Comma-separated distinct class names."""
    import argparse

    names = [n.strip() for n in text.split(",") if n.strip()]
    if len(names) < 2 or len(set(names)) != len(names):
        raise argparse.ArgumentTypeError(f"expected two or more distinct comma-separated class names, got {text!r}")
    return names


def run(args) -> int:
    from pathlib import Path

    from ..errors import LatentLensError
    from ..workflows.attributes import attributes_run

    classifier = args.classifier
    if args.classifier_model is None:
        if args.classifier_weights is not None or args.classifier_image_size is not None:
            raise LatentLensError("--classifier-weights and --classifier-image-size apply with --classifier-model")
    else:
        from ..adapters import load_user_model
        from ..train.checkpoint import write_external_run

        model = load_user_model(args.classifier_model, args.classifier_weights, "cpu")  # fails before writing
        classes = args.classes or getattr(model, "classes", None)
        if classes is None:
            raise LatentLensError("--classifier-model needs --classes (the names of its logits, in order)")
        classifier = Path(args.out) / "classifier"
        write_external_run(classifier, args.classifier_model, args.classifier_weights, "classifier",
                           {"classes": list(classes), "image_size": args.classifier_image_size})  # fmt: skip
    r = attributes_run(classifier, args.generator, args.data, args.target, args.out, args.source, args.strength,
                       args.attributes, args.n, args.seed, args.device, args.render_steps, classes=args.classes,
                       shift=args.shift, readout=args.readout)  # fmt: skip
    log.info("attributes towards %s: %s; sufficiency %s (random %s)", r["target"],
             ", ".join(f"{p['label']}{'+' if p['sign'] else '-'}" for p in r["stylex"]),
             [round(v, 2) for v in r["sufficiency"]], [round(v, 2) for v in r["sufficiency_random"]])  # fmt: skip
    return 0
