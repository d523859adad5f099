"""``latentlens report --run RUN``: (re)write RUN/report.html from what the run folder holds."""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("report", help="write RUN/report.html")
    p.add_argument("--run", required=True, help="run folder, or zoo:NAME")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..viz.report import build_report

    path = build_report(args.run)
    log.info("wrote %s", path)
    return 0
