"""``latentlens explore --run RUN|zoo:NAME [--port N] [--host H]``: the explorer in the browser.

Serves one page and its renders from 127.0.0.1 (a free port unless ``--port``); ``--host 0.0.0.0`` exposes it
to the network and must be asked for explicitly (a warning says so). Stops with Ctrl-C.
"""

from __future__ import annotations

import logging

from . import add_model_options, non_negative_int, run_folder

log = logging.getLogger(__name__)


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("explore", help="drive a latent space in the browser (sliders, traversals, names)")
    add_model_options(p)
    p.add_argument("--out", default=None, help="with --model: the run folder to keep its settings and names")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1, this machine only)")
    p.add_argument("--port", type=non_negative_int, default=0, help="port (default: a free one)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch CPU threads for renders (default 1: small renders of concurrent requests gain more "
                        "from a free core for the server than from a second thread each)")  # fmt: skip
    p.set_defaults(func=run)


def run(args) -> int:
    import torch

    from ..app.server import serve
    from ..errors import LatentLensError

    if args.threads < 1:
        raise LatentLensError(f"--threads must be at least 1, got {args.threads}")
    if args.port > 65535:
        raise LatentLensError(f"--port must be at most 65535, got {args.port}")
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("explore: serving on %s makes the explorer reachable from other machines", args.host)
    run_dir = run_folder(args)
    torch.set_num_threads(args.threads)

    def ready(url: str) -> None:
        print(f"latentlens explorer: {url}  (Ctrl-C to stop)", flush=True)  # CLI output

    serve(run_dir, args.host, args.port, args.device, ready)
    return 0
