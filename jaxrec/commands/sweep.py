"""``jaxrec sweep``: run a grid of configurations x seeds as one compiled program, resumably
(options and handler in :mod:`jaxrec.sweep.command`, shared with ``python -m jaxrec.sweep``)."""

from __future__ import annotations

import argparse

from jaxrec.sweep import command


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("sweep", help=command.HELP, description=command.DESCRIPTION)
    command.add_arguments(parser)
