"""``latentlens train vae|gan --data dsprites|PATH --steps N --out RUN [--resume]``."""

from __future__ import annotations

import inspect
import logging

from . import non_negative_float, non_negative_int, positive_float, positive_int, seed

log = logging.getLogger(__name__)

OBJECTIVE_FLAGS = ("beta", "kl_weight", "gamma", "ad_lambda", "ad_layer", "ad_pair")


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("train", help="train a VAE, GAN, DDPM or classifier into a run folder")
    p.add_argument("model", choices=["vae", "gan", "ddpm", "diffae", "classifier", "factor-predictor"])
    p.add_argument("--data", default=None, help="'dsprites' or a folder of images (png/jpg, grey or RGB)")
    p.add_argument("--out", required=True, help="run folder to write")
    p.add_argument("--steps", type=positive_int, default=None, help="default 2000 (factor predictor: 8000)")
    p.add_argument("--batch-size", type=positive_int, default=None, help="default 64 (factor predictor: 128)")
    p.add_argument("--lr", type=positive_float, default=None,
                   help="default 1e-3 (VAE; disentanglement_lib used 1e-4 for 300k steps) / 2e-4 (GAN)")  # fmt: skip
    p.add_argument("--lr-schedule", choices=["constant", "cosine"], default="constant",
                   help="cosine: decay to 5%% of --lr at the last step")  # fmt: skip
    p.add_argument("--warmup-steps", type=non_negative_int, default=0, help="linear learning-rate warm-up")
    p.add_argument("--disc-lr", type=positive_float, default=None, help="FactorVAE discriminator lr (default --lr)")
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:N or auto; torchrun ranks take their own GPU")
    p.add_argument("--precision", choices=["fp32", "bf16"], default="fp32",
                   help="VAE: bf16 runs the convolutions in bfloat16 while training (faster where the CPU or GPU "
                        "has bfloat16 arithmetic); the model is used in float32 either way")  # fmt: skip
    p.add_argument("--latent-dim", type=positive_int, default=10)
    p.add_argument("--image-size", type=positive_int, default=64, help="images are resized to this size")
    p.add_argument("--channels", type=int, choices=[1, 3], default=None, help="default: detected from the data")
    p.add_argument("--objective", default="beta-vae", help="VAE objective: beta-vae, beta-tcvae, factorvae, ...")
    p.add_argument("--encoder-kernels", choices=["4x4", "2x2"], default="4x4",
                   help="4x4: paper's Table 2; 2x2: disentanglement_lib code")  # fmt: skip
    p.add_argument("--width", type=positive_int, default=32, help="GAN channel width; DDPM U-Net base channels")
    p.add_argument("--schedule", choices=["linear", "cosine"], default=None, help="DDPM noise schedule (default linear)")
    p.add_argument("--patch-size", type=int, choices=[1, 2, 4], default=None,
                   help="DDPM: pixel-unshuffle stem, the U-Net runs at image-size / patch-size (default 2 at 64 px, else 1)")
    p.add_argument("--skip-connections", choices=["all", "stem"], default=None,
                   help="DDPM U-Net: all (default) or stem (only the stem's skip; the content passes through h-space)")
    p.add_argument("--p2-gamma", type=non_negative_float, default=None,
                   help="DDPM: P2 loss weight 1/(1+SNR)^gamma (Choi et al. 2022); default 0, the simple loss")  # fmt: skip
    p.add_argument("--r1-gamma", type=non_negative_float, default=None,
                   help="GAN: weight of the R1 penalty on real images (default 10; 0 = plain DCGAN)")  # fmt: skip
    p.add_argument("--discriminator-norm", choices=["batch", "none"], default=None,
                   help="GAN: BatchNorm in the discriminator (default, DCGAN) or none (as gradient-penalty critics)")  # fmt: skip
    p.add_argument("--beta", type=positive_float, default=None,
                   help="beta-VAE: default 4 on dsprites, 1 on your own images; beta-TCVAE: default 6")  # fmt: skip
    p.add_argument("--kl-weight", type=positive_float, default=None,
                   help="beta-TCVAE: weight of the KL's mutual-information and dimension-wise parts (default 1)")  # fmt: skip
    p.add_argument("--gamma", type=positive_float, default=None, help="FactorVAE TC weight")
    p.add_argument("--ad-lambda", type=non_negative_float, default=None, help="AD-FactorVAE attention-disentanglement weight")
    p.add_argument("--ad-layer", default=None, help="AD-FactorVAE encoder layer name")
    p.add_argument("--ad-pair", default=None, choices=["top", "random"])
    p.add_argument("--classifier", default=None,
                   help="diffae: the classifier run to explain (its probabilities join z_sem; KL term in the loss); "
                        "vae: adds StylEx's classifier term, so reconstructions keep the classifier's decision")  # fmt: skip
    p.add_argument("--cls-weight", type=non_negative_float, default=None,
                   help="weight of the classifier KL term: diffae's w (default 0.3), the VAE's lambda (default 10)")  # fmt: skip
    p.add_argument("--no-classifier-component", action="store_true",
                   help="diffae: the classifier only measures class agreement (DiffEx's ablation)")  # fmt: skip
    p.add_argument("--checkpoint-every", type=positive_int, default=250)
    p.add_argument("--eval-every", type=non_negative_int, default=0,
                   help="VAE on dsprites: log the FactorVAE score and MIG (fast preset, seed 0) every N steps")  # fmt: skip
    p.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


def objective_params(name: str, args) -> dict:
    """The hyper-parameter flags given on the command line that the objective accepts."""
    from ..errors import LatentLensError
    from ..registry import get

    accepted = inspect.signature(get("objective", name).__init__).parameters
    params = {}
    for flag in OBJECTIVE_FLAGS:
        value = getattr(args, flag)
        if value is None:
            continue
        if flag not in accepted:
            raise LatentLensError(f"--{flag.replace('_', '-')} does not apply to objective {name!r}")
        params[flag] = value
    return params


def run(args) -> int:
    from ..data.sources import make_source
    from ..errors import LatentLensError
    from ..io import ensure_writable_dir
    from ..train.loop import TrainSettings

    if args.model != "vae" and args.precision != "fp32":
        raise LatentLensError("--precision applies to train vae")
    if args.model != "gan" and args.discriminator_norm is not None:
        raise LatentLensError("--discriminator-norm applies to the GAN")
    if args.model == "factor-predictor":
        return _train_factor_predictor(args)
    if args.model == "classifier":
        return _train_classifier(args)
    if args.model == "diffae":
        return _train_diffae(args)
    if args.no_classifier_component or (args.model != "vae" and args.classifier is not None):
        raise LatentLensError("--classifier applies to train vae and diffae; --no-classifier-component to diffae")
    if args.cls_weight is not None and args.classifier is None:
        raise LatentLensError("--cls-weight needs --classifier RUN")
    if args.data is None:
        raise LatentLensError("--data is required: 'dsprites' or a folder of images")
    ddpm_only = ("schedule", "patch_size", "p2_gamma", "skip_connections")
    if args.model != "ddpm" and any(getattr(args, f) is not None for f in ddpm_only):
        raise LatentLensError("--schedule, --patch-size, --skip-connections and --p2-gamma apply to the DDPM")
    if args.model == "ddpm" and any(getattr(args, f) is not None for f in OBJECTIVE_FLAGS + ("r1_gamma",)):
        raise LatentLensError("--beta/--gamma/--ad-*/--r1-gamma do not apply to the DDPM")
    if args.model == "gan" and args.image_size != 64:
        raise LatentLensError("the GAN generates 64x64 images; drop --image-size or use 64")
    if args.model == "gan" and any(getattr(args, f) is not None for f in OBJECTIVE_FLAGS):
        raise LatentLensError("--beta/--gamma/--ad-* apply to VAE objectives, not to the GAN")
    if args.model == "vae" and args.r1_gamma is not None:
        raise LatentLensError("--r1-gamma applies to the GAN, not to VAE objectives")
    if args.r1_gamma is not None and args.r1_gamma < 0:
        raise LatentLensError(f"--r1-gamma must be non-negative, got {args.r1_gamma}")
    from ..registry import get

    if args.model == "ddpm":
        return _train_ddpm(args)
    params = objective_params(args.objective, args) if args.model == "vae" else {}
    if args.model == "vae" and args.objective == "beta-vae" and args.beta is None and args.data != "dsprites":
        params["beta"] = 1.0  # on a few hundred small images of a new kind, beta 4 leaves most latents unused
    if args.data == "dsprites" and args.image_size != 64:
        raise LatentLensError("dSprites images are 64x64; drop --image-size or use 64")
    if args.model == "vae":
        from ..models.vae import VAEConfig

        VAEConfig(image_size=args.image_size, latent_dim=args.latent_dim).validate()
    settings = TrainSettings(
        steps=args.steps or 2000, batch_size=args.batch_size or 64, seed=args.seed, checkpoint_every=args.checkpoint_every,
        lr=args.lr or (1e-3 if args.model == "vae" else 2e-4), progress=not args.no_progress,
        lr_schedule=args.lr_schedule, warmup_steps=args.warmup_steps, disc_lr=args.disc_lr, device=args.device,
        precision=args.precision,
    ).validate()  # fmt: skip
    if args.eval_every < 0 or (args.eval_every and (args.model != "vae" or args.data != "dsprites")):
        raise LatentLensError("--eval-every applies to VAEs trained on dsprites, as a positive step count")
    if args.disc_lr is not None and (args.model != "vae" or not get("objective", args.objective).has_discriminator):
        raise LatentLensError("--disc-lr applies to VAE objectives with a discriminator (factorvae, ad-factorvae)")
    source = make_source(args.data, args.image_size, args.channels)
    ensure_writable_dir(args.out)
    if args.model == "vae":
        from ..train.vae import train_vae

        config = {"latent_dim": args.latent_dim, "encoder_kernels": args.encoder_kernels}
        from ..train.vae import disentanglement_probe

        callback = disentanglement_probe(source.dataset) if args.eval_every else None
        classifier = _load_classifier_for(args, source.channels) if args.classifier is not None else None
        train_vae(source, args.out, settings, config, args.objective, params, resume=args.resume,
                  callback=callback, callback_every=args.eval_every, classifier=classifier,
                  cls_weight=10.0 if args.cls_weight is None else args.cls_weight, classifier_run=args.classifier)  # fmt: skip
    else:
        from ..train.gan import train_gan

        r1 = {} if args.r1_gamma is None else {"r1_gamma": args.r1_gamma}
        config = {"latent_dim": args.latent_dim, "width": args.width}
        if args.discriminator_norm is not None:
            config["discriminator_norm"] = args.discriminator_norm
        train_gan(source, args.out, settings, config, args.resume, **r1)
    log.info("trained %s for %d steps: %s", args.model, settings.steps, args.out)
    return 0


def _train_ddpm(args) -> int:
    from ..data.sources import make_source
    from ..errors import LatentLensError
    from ..io import ensure_writable_dir
    from ..models.ddpm import DDPMConfig
    from ..train.ddpm import train_ddpm
    from ..train.loop import TrainSettings

    if args.data == "dsprites" and args.image_size != 64:
        raise LatentLensError("dSprites images are 64x64; drop --image-size or use 64")
    if args.disc_lr is not None or args.eval_every:
        raise LatentLensError("--disc-lr and --eval-every do not apply to the DDPM")
    patch = args.patch_size or (2 if args.image_size >= 64 else 1)
    config = {"base_channels": args.width, "patch_size": patch, "image_size": args.image_size,
              "schedule": args.schedule or "linear", "skip_connections": args.skip_connections or "all"}  # fmt: skip
    DDPMConfig(**config).validate()
    settings = TrainSettings(
        steps=args.steps or 2000, batch_size=args.batch_size or 64, seed=args.seed, checkpoint_every=args.checkpoint_every,
        lr=args.lr or 2e-4, progress=not args.no_progress, lr_schedule=args.lr_schedule, warmup_steps=args.warmup_steps,
        device=args.device,
    ).validate()  # fmt: skip
    source = make_source(args.data, args.image_size, args.channels)
    ensure_writable_dir(args.out)
    train_ddpm(source, args.out, settings, config, args.resume, p2_gamma=args.p2_gamma or 0.0)
    log.info("trained a DDPM for %d steps: %s", settings.steps, args.out)
    return 0


def _train_diffae(args) -> int:
    from ..data.folders import load_image_folder
    from ..errors import LatentLensError
    from ..io import ensure_writable_dir
    from ..train.diffae import train_diffae
    from ..train.loop import TrainSettings

    if args.data in (None, "dsprites"):
        raise LatentLensError("train diffae needs --data FOLDER (the images the classifier reads)")
    if any(getattr(args, f) is not None for f in OBJECTIVE_FLAGS + ("r1_gamma", "schedule")) or args.eval_every:
        raise LatentLensError("--beta/--gamma/--ad-*/--r1-gamma/--schedule/--eval-every do not apply to train diffae")
    classifier = None if args.classifier is None else _load_classifier_for(args, args.channels)
    settings = TrainSettings(
        steps=args.steps or 2000, batch_size=args.batch_size or 32, seed=args.seed, checkpoint_every=args.checkpoint_every,
        lr=args.lr or 2e-4, progress=not args.no_progress, lr_schedule=args.lr_schedule, warmup_steps=args.warmup_steps,
        device=args.device,
    ).validate()  # fmt: skip
    images = load_image_folder(args.data, args.image_size, args.channels)
    ensure_writable_dir(args.out)
    config = {"base_channels": args.width, "patch_size": args.patch_size or 4}
    cls_weight = 0.3 if args.cls_weight is None else args.cls_weight
    train_diffae(images, args.out, settings, classifier, config, cls_weight=cls_weight, resume=args.resume,
                 data_name=str(args.data), classifier_run=args.classifier,
                 classifier_component=not args.no_classifier_component)  # fmt: skip
    log.info("trained a diffusion autoencoder for %d steps: %s", settings.steps, args.out)
    return 0


def _load_classifier_for(args, channels: int | None):
    """The classifier run named by ``--classifier``, refused in one line when it reads images of another
    size or channel count than the ones it is asked to judge."""
    from ..errors import LatentLensError
    from ..train.checkpoint import load_model, load_run_config
    from ..zoo import resolve_run

    run = resolve_run(args.classifier)
    model_config = load_run_config(run).get("model", {})
    size, chans = model_config.get("image_size"), model_config.get("in_channels")
    if size is not None and size != args.image_size:
        raise LatentLensError(f"the classifier {args.classifier} reads {size}px images; train with --image-size {size}")
    if chans is not None and channels is not None and chans != channels:
        raise LatentLensError(f"the classifier {args.classifier} reads {chans}-channel images, these have {channels}")
    return load_model(run)


def _train_factor_predictor(args) -> int:
    from ..errors import LatentLensError
    from ..train.factor_predictor import train_factor_predictor_run

    if args.data not in (None, "dsprites"):
        raise LatentLensError("the factor predictor is trained on dSprites' true labels; drop --data")
    train_factor_predictor_run(args.out, args.steps, args.batch_size, args.lr, args.seed, not args.no_progress)
    log.info("trained the dSprites factor predictor: %s", args.out)
    return 0


def _train_classifier(args) -> int:
    from ..data.labels import labelled_images
    from ..errors import LatentLensError
    from ..io import ensure_writable_dir
    from ..train.classifier import train_classifier
    from ..train.loop import TrainSettings

    if args.data in (None, "dsprites"):
        raise LatentLensError("train classifier needs --data FOLDER with one sub-folder per class")
    settings = TrainSettings(
        steps=args.steps or 2000, batch_size=args.batch_size or 64, seed=args.seed, checkpoint_every=args.checkpoint_every,
        lr=args.lr or 1e-3, progress=not args.no_progress, lr_schedule=args.lr_schedule, warmup_steps=args.warmup_steps,
        device=args.device,
    ).validate()  # fmt: skip
    data = labelled_images(args.data, None, args.image_size, args.channels, max_classes=1000)
    ensure_writable_dir(args.out)
    train_classifier(data.images, data.factors[:, 0], data.class_values[0], args.out, settings, resume=args.resume,
                     data_name=str(args.data))  # fmt: skip
    log.info("trained a classifier of %s on %d images: %s", ", ".join(data.class_values[0]), len(data), args.out)
    return 0
