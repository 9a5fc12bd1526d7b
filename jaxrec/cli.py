"""The ``jaxrec`` command.

Each subcommand lives in its own module under :mod:`jaxrec.commands` and exposes
``register(subparsers)``, which adds its parser and sets ``func`` (a callable taking the parsed
arguments and returning an exit code) and ``validate`` (a callable taking the parsed arguments that
checks every option, config file and ``--out`` and the sizes involved without loading data,
compiling or writing anything; ``func`` calls it first, and the tests call it alone). Modules are discovered, so adding a command is adding a file;
heavy imports (jax, plotting) belong inside the ``func``, so ``jaxrec --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

import jaxrec.commands
from jaxrec.errors import Interrupted, JaxrecError


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
    parser = build_parser()
    args = parser.parse_args(argv)
    name = command_name(args)
    try:
        return int(args.func(args) or 0)
    except Interrupted as err:
        print(f"jaxrec {name}: interrupted: {err}", file=sys.stderr)
        return 130
    except JaxrecError as err:
        print(f"jaxrec {name}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"jaxrec {name}: interrupted; nothing of this run was kept", file=sys.stderr)
        return 130


def command_name(args: argparse.Namespace) -> str:
    """The command as typed after ``jaxrec`` (``"simulate"``, ``"train cpo"``, ``"bench env"``)."""
    sub = getattr(args, "subcommand", None)
    return f"{args.command} {sub}" if sub else args.command


if __name__ == "__main__":
    sys.exit(main())
