"""CLI commands, one module each; :func:`latentlens.cli.build_parser` discovers them."""

from __future__ import annotations

import argparse
import math


def whole_number(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


def positive_int(text: str) -> int:
    value = whole_number(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def finite_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return value


def positive_float(text: str) -> float:
    value = finite_float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {value}")
    return value


def non_negative_float(text: str) -> float:
    value = finite_float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be non-negative, got {value}")
    return value


def non_negative_int(text: str) -> int:
    value = whole_number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be non-negative, got {value}")
    return value


def fraction(text: str) -> float:
    """A number strictly between 0 and 1."""
    value = finite_float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1 (exclusive), got {value}")
    return value


def seed(text: str) -> int:
    """A random seed in [0, 2**32)."""
    value = whole_number(text)
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"seeds must be in [0, 2**32), got {value}")
    return value


def seed_list(text: str) -> list[int]:
    """Comma-separated distinct seeds, e.g. ``0,1,2``."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts:
        raise argparse.ArgumentTypeError("expected comma-separated seeds, e.g. 0,1,2")
    values = [seed(p) for p in parts]
    if len(set(values)) != len(values):
        raise argparse.ArgumentTypeError(f"seeds must be distinct, got {text!r}")
    return values


def add_model_options(p, required: bool = True, data: bool = False) -> None:
    """``--run RUN|zoo:NAME`` or ``--model package.module:factory [--weights FILE]`` (a user's model, written
    as a run folder at ``--out``), with the adapter options and ``--device``; ``data`` adds ``--data``."""
    group = p.add_mutually_exclusive_group(required=required)
    group.add_argument("--run", help="run folder (config.json + model.safetensors), or zoo:NAME")
    group.add_argument("--model", help="your own model: package.module:factory (called with no arguments)")
    p.add_argument("--weights", default=None, help="with --model: a .safetensors or .pt state dict")
    p.add_argument("--latent-dim", type=positive_int, default=None, help="with --model: size of the latent")
    p.add_argument("--output-range", choices=["auto", "unit", "tanh", "logits"], default=None,
                   help="with --model: the range of its images (default: detected)")  # fmt: skip
    p.add_argument("--role", choices=["generator", "vae", "classifier", "diffusion"], default=None,
                   help="with --model: what the model is (default: detected)")  # fmt: skip
    p.add_argument("--schedule", dest="model_schedule", choices=["linear", "cosine"], default=None,
                   help="with --model --role diffusion: the noise schedule it was trained with (default linear)")  # fmt: skip
    p.add_argument("--num-timesteps", dest="model_timesteps", type=positive_int, default=None,
                   help="with --model --role diffusion: its number of diffusion steps T (default 1000)")  # fmt: skip
    p.add_argument("--h-layer", dest="model_h_layer", default=None,
                   help="with --model --role diffusion: the middle block's name (default: mid_block, middle, ...)")  # fmt: skip
    p.add_argument("--model-image-size", dest="model_image_size", type=positive_int, default=None,
                   help="with --model: the image size it reads (default 64)")  # fmt: skip
    p.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:N or auto")
    if data:
        p.add_argument("--data", default=None,
                       help="with --model: what it was trained on ('dsprites' turns on factor scores)")  # fmt: skip


def run_folder(args, out_attr: str = "out"):
    """The run folder a command works on: ``--run`` (or zoo:NAME, resolved by the CLI), or, for ``--model``,
    ``--out``, where a ``config.json`` recording the model spec is written (so that later commands and the
    report can read it with ``--run``)."""
    from ..errors import LatentLensError

    if getattr(args, "model", None) is None:
        for flag in ("weights", "latent_dim", "output_range", "role", "model_image_size", "model_schedule",
                     "model_timesteps", "model_h_layer"):
            if getattr(args, flag, None) is not None:
                raise LatentLensError(f"--{flag.replace('_', '-')} applies with --model")
        return args.run
    out = getattr(args, out_attr, None)
    if out is None:
        raise LatentLensError("--model needs --out (the folder to write into)")
    from ..adapters import load_user_model
    from ..io import output_folder
    from ..train.checkpoint import write_external_run

    model = load_user_model(args.model, args.weights, "cpu")  # fails early, before anything is written
    role = args.role or _detect_role(model)
    output_folder(out)
    adapter = {"latent_dim": args.latent_dim, "output_range": args.output_range,
               "image_size": args.model_image_size}  # fmt: skip
    if role == "diffusion":
        adapter.update({"schedule": args.model_schedule or "linear", "num_timesteps": args.model_timesteps or 1000,
                        "h_layer": args.model_h_layer})  # fmt: skip
    elif any(getattr(args, f, None) is not None for f in ("model_schedule", "model_timesteps", "model_h_layer")):
        raise LatentLensError("--schedule, --num-timesteps and --h-layer apply with --role diffusion")
    write_external_run(out, args.model, args.weights, role, adapter, getattr(args, "data", None))
    return out


def _detect_role(model) -> str:
    from ..directions.generators import looks_like_vae

    return "vae" if looks_like_vae(model) or callable(getattr(model, "encode", None)) else "generator"
