"""The ``jaxrec`` command.

Each subcommand lives in its own module under :mod:`jaxrec.commands` and exposes
``register(subparsers)``, which adds its parser and sets ``func`` (a callable taking the parsed
arguments and returning an exit code). Modules are discovered, so adding a command is adding a file;
heavy imports (jax, plotting) belong inside the ``func``, so ``jaxrec --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys

import jaxrec.commands
from jaxrec.errors import JaxrecError


def command_modules() -> list[str]:
    """Names of the modules under :mod:`jaxrec.commands`, in alphabetical order."""
    return sorted(
        f"jaxrec.commands.{info.name}"
        for info in pkgutil.iter_modules(jaxrec.commands.__path__)
        if not info.name.startswith("_")
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jaxrec",
        description="Simulate long-term fairness in recommender systems with JAX.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name in command_modules():
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    # commands write figures to files: a non-interactive backend, unless the user chose one
    os.environ.setdefault("MPLBACKEND", "Agg")
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except JaxrecError as err:
        print(f"jaxrec {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
