"""Options and parsing shared by the ``jaxrec`` subcommands, so each is spelled, defaulted and
checked the same way everywhere (``--data``/``--data-dir``, ``--seeds``, ``--out``, lists of numbers).

Every ``add_*`` helper adds options that the matching ``read``/check helper (or the command itself)
reads: ``tests/test_cli_options.py`` fails when a subcommand shows an option nothing reads.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

MOVIELENS = ("ml-100k", "ml-1m")


def add_data_options(
    parser: argparse.ArgumentParser,
    choices: Sequence[str] = ("synthetic", *MOVIELENS),
    data_dir_help: str = "folder with the MovieLens files (ml-100k, ml-1m)",
) -> None:
    """``--data`` (default the first choice) and ``--data-dir``, read by :func:`data_dir`."""
    parser.add_argument("--data", choices=tuple(choices), default=choices[0])
    parser.add_argument("--data-dir", help=data_dir_help)


def data_dir(args: argparse.Namespace, what: str = "the MovieLens files") -> str:
    """``args.data_dir``, or a :class:`~jaxrec.errors.ConfigError` naming ``--data`` if missing."""
    from jaxrec.errors import ConfigError

    if not args.data_dir:
        raise ConfigError("data_dir", f"--data {args.data} needs --data-dir with {what}")
    return args.data_dir


def add_seeds(parser: argparse.ArgumentParser, default: int = 3, help: str | None = None) -> None:
    """``--seeds N``: the number of seeds run at once (checked by :func:`at_least`)."""
    parser.add_argument(
        "--seeds", type=int, default=default, help=help or f"seeds run at once (default {default})"
    )


def add_out(
    parser: argparse.ArgumentParser, required: bool = True, help: str = "output folder"
) -> None:
    """``--out DIR``: where a command writes its results."""
    parser.add_argument("--out", required=required, help=help)


def at_least(value: int, field: str, minimum: int = 1) -> int:
    """``value`` if it is ``>= minimum``, else a :class:`~jaxrec.errors.ConfigError` on ``field``."""
    from jaxrec.errors import ConfigError

    if value < minimum:
        raise ConfigError(field, f"must be >= {minimum}, got {value}")
    return value


def number_list(text: str, field: str, kind: Callable[[str], float] = float) -> list:
    """Comma-separated numbers (``kind`` = ``float`` or ``int``), at least one, or an error naming
    ``field`` and the text."""
    from jaxrec.errors import ConfigError

    try:
        values = [kind(v) for v in text.split(",") if v.strip()]
    except ValueError as error:
        raise ConfigError(field, f"expected comma-separated numbers, got {text!r}") from error
    if not values:
        raise ConfigError(field, "needs at least one value")
    return values
