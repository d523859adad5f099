"""``latentlens <command>``: one module per command in :mod:`latentlens.commands`.

Each command module defines ``add_parser(subparsers)`` and ``run(args) -> int``. A
:class:`~latentlens.errors.LatentLensError` becomes one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys
from pathlib import Path

from . import __version__, commands
from .errors import LatentLensError
from .train.loop import keep_freed_memory


class OneLineErrorParser(argparse.ArgumentParser):
    """argparse whose errors are one line, ``latentlens: error: ...`` with exit status 2, like every other
    error of the CLI (sub-command parsers inherit the class)."""

    def error(self, message: str):
        self.exit(2, f"latentlens: error: {message} (see: {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineErrorParser(
        prog="latentlens", description="Make the latent spaces of generative models interpretable."
    )
    parser.add_argument("--version", action="version", version=f"latentlens {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if not info.name.startswith("_"):
            importlib.import_module(f"{commands.__name__}.{info.name}").add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    keep_freed_memory()
    out = getattr(args, "out", None)
    fresh = Path(out) if isinstance(out, str) and not Path(out).exists() else None
    try:
        if isinstance(getattr(args, "run", None), str) and args.run.startswith("zoo:"):
            from .zoo import resolve_run

            args.run = str(resolve_run(args.run))  # a zoo model, exported once to the cache as a run folder
        return int(args.func(args) or 0)
    except LatentLensError as exc:
        _remove_if_empty(fresh)
        print(f"latentlens: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a full disk, a folder that became unwritable, ... (files are written atomically)
        _remove_if_empty(fresh)
        where = f" ({exc.filename})" if exc.filename else ""
        print(f"latentlens: error: {exc.strerror or exc}{where}; nothing half-written was left", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("latentlens: interrupted", file=sys.stderr)
        return 130


def _remove_if_empty(folder: Path | None) -> None:
    """Remove an output folder this command created when a refusal left nothing in it (but its lock file and
    output marker)."""
    from .io import OUTPUT_MARKER

    if folder is None or not folder.is_dir():
        return
    leftovers = [p for p in folder.iterdir() if p.name not in (".lock", OUTPUT_MARKER)]
    if not leftovers:
        (folder / ".lock").unlink(missing_ok=True)
        (folder / OUTPUT_MARKER).unlink(missing_ok=True)
        try:
            folder.rmdir()
        except OSError:
            pass


if __name__ == "__main__":
    sys.exit(main())
