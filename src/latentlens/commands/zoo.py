"""``latentlens zoo list|info|export|train``: the reference models shipped with latentlens.

::

    latentlens zoo list [--json]
    latentlens zoo info dsprites-factorvae
    latentlens zoo export dsprites-gan --out runs/gan        # a normal run folder
    latentlens zoo train dsprites-betavae --out runs/bvae    # reproduce it with its recorded command

Any command's ``--run`` also takes ``zoo:NAME``.
"""

from __future__ import annotations

import logging

from . import seed

log = logging.getLogger(__name__)


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("zoo", help="reference models trained by latentlens (list, export, reproduce)")
    sub = p.add_subparsers(dest="zoo_command", metavar="ACTION", required=True)
    ls = sub.add_parser("list", help="the shipped models with their data and metrics")
    ls.add_argument("--json", action="store_true", help="print a JSON list of objects")
    ls.set_defaults(func=run_list)
    inf = sub.add_parser("info", help="provenance of one model (command, commit, machine, metrics)")
    inf.add_argument("name")
    inf.set_defaults(func=run_info)
    ex = sub.add_parser("export", help="copy a zoo model into a run folder")
    ex.add_argument("name")
    ex.add_argument("--out", required=True)
    ex.set_defaults(func=run_export)
    tr = sub.add_parser("train", help="reproduce a zoo model from scratch with its recorded recipe")
    tr.add_argument("name")
    tr.add_argument("--out", required=True)
    tr.add_argument("--preset", default="fast", choices=["fast", "reference"], help="metrics preset for VAEs")
    tr.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:N or auto: where it trains (recorded)")
    tr.add_argument("--seed", type=seed, default=None,
                    help="train the recipe with this training seed instead of its own (its spread over seeds)")
    tr.add_argument("--no-progress", action="store_true")
    tr.set_defaults(func=run_train)


def _headline(metrics: dict) -> str:
    keys = ("factor_vae_score", "mig", "dci_disentanglement", "fraction_square", "fraction_ellipse",
            "fraction_heart", "intensity_ratio", "shape_accuracy")  # fmt: skip
    return ", ".join(f"{k}={metrics[k]:.3f}" for k in keys if isinstance(metrics.get(k), (int, float)))


def run_list(args) -> int:
    from .. import zoo

    models = zoo.list_models()
    if args.json:
        print(zoo.dumps(models))  # CLI output
        return 0
    if not models:
        print("no zoo models are shipped in this installation")
        return 0
    for m in models:
        print(f"{m['name']:<28} {m['kind']:<10} {m['data']:<9} {_headline(m.get('metrics', {}))}")
    return 0


def run_info(args) -> int:
    from .. import zoo

    print(zoo.dumps([zoo.info(args.name)])[2:-2])
    return 0


def run_export(args) -> int:
    from .. import zoo

    out = zoo.export(args.name, args.out)
    log.info("exported %s to %s", args.name, out)
    return 0


def run_train(args) -> int:
    from .. import zoo

    provenance = zoo.train(args.name, args.out, preset=args.preset, progress=not args.no_progress, device=args.device,
                           seed=args.seed)
    log.info("trained %s in %s s: %s", args.name, provenance["wall_time_s"], _headline(provenance["metrics"]))
    return 0
