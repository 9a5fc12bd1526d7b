"""Options and parsing shared by the ``jaxrec`` subcommands, so each is spelled, defaulted and
checked the same way everywhere (``--data``/``--data-dir``, ``--seeds``, ``--out``, lists of numbers).

Every ``add_*`` helper adds options that the matching ``read``/check helper (or the command itself)
reads: ``tests/test_cli_options.py`` fails when a subcommand shows an option nothing reads.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

# The MovieLens formats every --data option accepts: jaxrec.data.loaders.DATASETS, spelled out
# here so that building the parser imports no loader (tests/test_cli_options.py checks they agree).
MOVIELENS = ("ml-100k", "ml-1m", "ml-latest")


def add_data_options(
    parser: argparse.ArgumentParser,
    choices: Sequence[str] = ("synthetic", *MOVIELENS),
    data_dir_help: str = "folder with the MovieLens files (ml-100k, ml-1m, ml-latest)",
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


def add_popularity_beta(
    parser: argparse.ArgumentParser, default: float | None = None, aliases: Sequence[str] = ()
) -> None:
    """``--popularity-beta B``: the Matthew-effect strength (``EnvParams.popularity_beta``), one
    name on every command; ``None`` leaves the config's or the platform's default (0.5)."""
    shown = "the config's, else 0.5" if default is None else default
    parser.add_argument(
        "--popularity-beta",
        *aliases,
        dest="popularity_beta",
        type=float,
        default=default,
        help=f"Matthew-effect strength, EnvParams.popularity_beta (default {shown})",
    )


def env_overrides(args: argparse.Namespace) -> dict:
    """Traced platform parameters set on the command line (``--popularity-beta``)."""
    return {} if args.popularity_beta is None else {"popularity_beta": args.popularity_beta}


def at_least(value: int, field: str, minimum: int = 1) -> int:
    """``value`` if it is ``>= minimum``, else a :class:`~jaxrec.errors.ConfigError` on ``field``."""
    from jaxrec.errors import ConfigError

    if value < minimum:
        raise ConfigError(field, f"must be >= {minimum}, got {value}")
    return value


def number_list(text: str, field: str, kind: Callable[[str], float] = float) -> list:
    """Comma-separated numbers (``kind`` = ``float`` or ``int``), at least one, or an error naming
    ``field`` and the text.

    >>> number_list("1, 2.5,inf", "limits")
    [1.0, 2.5, inf]
    >>> number_list("1,x", "limits")
    Traceback (most recent call last):
    jaxrec.errors.ConfigError: limits: expected comma-separated numbers, got '1,x'
    """
    from jaxrec.errors import ConfigError

    try:
        values = [kind(v) for v in text.split(",") if v.strip()]
    except ValueError as error:
        raise ConfigError(field, f"expected comma-separated numbers, got {text!r}") from error
    if not values:
        raise ConfigError(field, "needs at least one value")
    return values
