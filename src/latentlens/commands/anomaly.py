"""``latentlens anomaly fit|test``: anomaly localisation with a VAE trained on normal images only.

``fit --data DIR --category C --out RUN`` trains a VAE on ``train/good`` minus a seeded held-out part
(kept to choose thresholds), and stores the normal statistics of Eq. 4. ``test --run RUN`` scores the
category's test images with every method of :mod:`latentlens.explain.anomaly` (or ``--method NAME``)
and writes ``RUN/metrics.json`` (``default_method`` and ``methods: {name: {image_auroc, pixel_auroc,
aupro, f1, ...}}``) plus overlays of the best- and worst-localised defective images.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ..workflows.anomaly import evaluate_run, fit_category
from . import fraction, positive_float, positive_int, seed

log = logging.getLogger(__name__)

def add_parser(subparsers) -> None:
    from ..explain.anomaly import METHODS
    from ..explain.vae_attention import DEFAULT_LAYER

    p = subparsers.add_parser("anomaly", help="anomaly localisation: train on normal images, test on defects")
    sub = p.add_subparsers(dest="anomaly_command", metavar="ACTION", required=True)
    f = sub.add_parser("fit", help="train a VAE on a category's normal images (MVTec AD layout)")
    f.add_argument("--data", required=True, help="folder with <category>/train/good (MVTec AD layout)")
    f.add_argument("--category", default=None, help="category sub-folder (omit if --data is the category)")
    f.add_argument("--out", required=True, help="run folder to write")
    f.add_argument("--steps", type=positive_int, default=1500)
    f.add_argument("--image-size", type=positive_int, default=64, help="multiple of 16")
    f.add_argument("--channels", type=int, choices=[1, 3], default=None, help="default: detected")
    f.add_argument("--latent-dim", type=positive_int, default=32)
    f.add_argument("--batch-size", type=positive_int, default=32)
    f.add_argument("--lr", type=positive_float, default=1e-3)
    f.add_argument("--beta", type=positive_float, default=1.0, help="weight of the KL term (lower if latents collapse)")
    f.add_argument("--val-fraction", type=fraction, default=0.15,
                   help="share of train/good held out to choose thresholds (never the test set)")  # fmt: skip
    f.add_argument("--layer", default=DEFAULT_LAYER, help="encoder layer of the gradient maps")
    f.add_argument("--seed", type=seed, default=0)
    f.add_argument("--resume", action="store_true")
    f.add_argument("--no-progress", action="store_true")
    f.set_defaults(func=run_fit)
    t = sub.add_parser("test", help="score the test images and write metrics.json and overlays")
    t.add_argument("--run", required=True, help="run folder written by `anomaly fit`")
    t.add_argument("--data", default=None, help="default: the folder used by fit")
    t.add_argument("--category", default=None, help="default: the category used by fit")
    t.add_argument("--method", default="all", choices=("all",) + METHODS, help="map(s) to evaluate (default all)")
    t.add_argument("--fpr", type=fraction, default=0.005,
                   help="pixel false-positive rate on held-out normal images that sets the F1 threshold")  # fmt: skip
    t.set_defaults(func=run_test)


def run_fit(args) -> int:
    state = fit_category(
        args.data, args.category, args.out, args.steps, args.image_size, args.channels, args.latent_dim,
        args.batch_size, args.lr, args.val_fraction, args.layer, args.seed, args.resume, not args.no_progress,
        args.beta,
    )  # fmt: skip
    log.info("trained on %d normal images of %s (%d held out): %s", state["n_fit"], state["category_root"],
             len(state["held_out"]), args.out)  # fmt: skip
    return 0


def run_test(args) -> int:
    methods = None if args.method == "all" else [args.method]
    if args.category is not None and args.data is None:
        from ..errors import LatentLensError

        raise LatentLensError("--category needs --data")
    metrics = evaluate_run(args.run, args.data, args.category, methods, args.fpr)
    log.info("wrote %s (default method %s)", Path(args.run) / "metrics.json", metrics["default_method"])
    return 0
