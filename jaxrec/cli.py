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
import os
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
    harden(parser)
    return parser


def harden(parser: argparse.ArgumentParser, path: str = "") -> None:
    """Rules every (sub)parser of the tree follows, including options and commands added later.

    - Every option still declared with plain ``type=int`` / ``type=float`` gets a typed converter:
      a plain int is a count (an integer >= 1) unless its name ends in ``seed`` (>= 0); a plain
      float must be finite. Options with another range declare a converter of
      :mod:`jaxrec.commands._options` themselves. A bad value is refused by the parser (exit 2,
      the option named).
    - No abbreviated options: ``--data`` must never silently mean ``--data-seed``.
    - Each parser records the command path the user typed (``train cpo``) as ``command_path``,
      which the error messages name.
    """
    from jaxrec.commands._options import finite_float, nonnegative_int, positive_int

    parser.allow_abbrev = False
    if path:
        parser.set_defaults(command_path=path)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                harden(sub, f"{path} {name}".strip())
        elif action.type is int:
            action.type = nonnegative_int if action.dest.endswith("seed") else positive_int
        elif action.type is float:
            action.type = finite_float


def main(argv: list[str] | None = None, validate_only: bool = False) -> int:
    """Run ``jaxrec`` with ``argv``; the exit code (2: bad input, 130: interrupted).

    ``validate_only`` parses and runs the command's ``validate`` step alone (no data loaded,
    nothing compiled or written): what the bad-input tests exercise.
    """
    # commands write figures to files: a non-interactive backend, unless the user chose one
    os.environ.setdefault("MPLBACKEND", "Agg")
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as done:  # argparse printed the usage error (2) or the help (0)
        return int(done.code or 0)
    name = command_name(args)
    try:
        if validate_only:
            validate = getattr(args, "validate", None)
            if validate is not None:
                validate(args)
            return 0
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
    return getattr(args, "command_path", None) or args.command


if __name__ == "__main__":
    sys.exit(main())
