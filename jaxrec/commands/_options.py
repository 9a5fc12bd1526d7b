"""Options and parsing shared by the ``jaxrec`` subcommands, so each is spelled, defaulted and
checked the same way everywhere (``--data``/``--data-dir``, ``--seeds``, ``--out``, lists of numbers).

Every ``add_*`` helper adds options that the matching ``read``/check helper (or the command itself)
reads: ``tests/test_cli_options.py`` fails when a subcommand shows an option nothing reads.

Typed values are refused at the door by argparse ``type=`` converters (:func:`positive_int`,
:func:`fraction`, :func:`finite_float`, :func:`comma_list`...): each raises
:class:`argparse.ArgumentTypeError`, so argparse prints
``jaxrec CMD: error: argument --steps: expected an integer >= 1, got '2.5'`` and exits with code 2
before anything is loaded or compiled. Converters carry a ``kind`` attribute (``"int"``,
``"float"`` or ``"list"``) that ``tests/commands/test_bad_input.py`` reads to draw bad values.
"""

from __future__ import annotations

import argparse
import math
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
    """``--seeds N``: the number of seeds run at once (an integer >= 1)."""
    parser.add_argument(
        "--seeds",
        type=positive_int,
        default=default,
        help=help or f"seeds run at once (default {default})",
    )


def add_out(
    parser: argparse.ArgumentParser, required: bool = True, help: str = "output folder"
) -> None:
    """``--out DIR`` and ``--overwrite``: where a command writes its results (checked by
    :func:`jaxrec.commands._outputs.check_out`)."""
    from jaxrec.commands._outputs import add_out_option

    add_out_option(parser, required=required, help=help)


def add_allow_large(parser: argparse.ArgumentParser) -> None:
    """``--allow-large``: run even when the memory estimate (:mod:`jaxrec.commands._sizes`)
    exceeds the device's available memory."""
    parser.add_argument(
        "--allow-large",
        action="store_true",
        help="run even when the memory estimate exceeds the device's available memory",
    )


def add_config_option(parser: argparse.ArgumentParser, shipped: str) -> None:
    """``--config FILE`` (the experiment's settings in the platform config schema; default the
    shipped ``shipped`` file under :data:`jaxrec.experiments.config.EXPERIMENT_CONFIGS`) and
    ``--print-config`` (print the shipped file, every key the command reads and the option
    that replaces it)."""
    parser.add_argument(
        "--config",
        help=f"TOML file of the experiment's [world], [env] and [run] (default: the shipped "
        f"{shipped}; --print-config prints it); the options below replace its keys",
    )
    parser.add_argument(
        "--print-config",
        action="store_true",
        help=f"print the shipped {shipped} and exit",
    )


def experiment_config_path(args: argparse.Namespace, shipped: str):
    """The config file the command reads: ``--config`` or the shipped ``shipped``."""
    from jaxrec.experiments.config import EXPERIMENT_CONFIGS

    return args.config or EXPERIMENT_CONFIGS / shipped


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


def _kind(kind: str) -> Callable:
    def mark(func: Callable) -> Callable:
        func.kind = kind
        return func

    return mark


def _integer(text: str, low: int) -> int:
    try:
        value = int(text.strip())
    except (ValueError, AttributeError):
        raise argparse.ArgumentTypeError(f"expected an integer >= {low}, got {text!r}") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"expected an integer >= {low}, got {value}")
    return value


def _float(text: str) -> float:
    try:
        value = float(text)
    except (ValueError, TypeError):
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


@_kind("int")
def positive_int(text: str) -> int:
    """An integer >= 1 (counts: steps, worlds, users, seeds, epochs...)."""
    return _integer(text, 1)


@_kind("int")
def nonnegative_int(text: str) -> int:
    """An integer >= 0 (seeds, optional counts where 0 means none)."""
    return _integer(text, 0)


@_kind("float")
def finite_float(text: str) -> float:
    """Any finite number."""
    return _float(text)


@_kind("float")
def positive_float(text: str) -> float:
    """A finite number > 0 (learning rates, trust regions, norms)."""
    value = _float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


@_kind("float")
def nonnegative_float(text: str) -> float:
    """A finite number >= 0 (penalties, probabilities that may exceed 1 are not fractions)."""
    value = _float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return value


@_kind("float")
def fraction(text: str) -> float:
    """A number in [0, 1] (probabilities, shares)."""
    value = _float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text!r}")
    return value


@_kind("float")
def limit(text: str) -> float:
    """A number >= 0, or ``inf`` for no limit (cost limits)."""
    try:
        value = float(text)
    except (ValueError, TypeError):
        raise argparse.ArgumentTypeError(f"expected a number >= 0 or inf, got {text!r}") from None
    if math.isnan(value) or value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0 or inf, got {text!r}")
    return value


def comma_list(item: Callable[[str], object]) -> Callable[[str], list]:
    """A converter for ``A,B,C``: at least one item, each converted by ``item``."""

    @_kind("list")
    def convert(text: str) -> list:
        parts = [part.strip() for part in str(text).split(",")]
        if not any(parts) or not all(parts):
            raise argparse.ArgumentTypeError(
                f"expected comma-separated values (at least one, no empty ones), got {text!r}"
            )
        values = []
        for part in parts:
            try:
                values.append(item(part))
            except argparse.ArgumentTypeError as err:
                raise argparse.ArgumentTypeError(f"in {text!r}: {err}") from None
        return values

    convert.item = item
    convert.__name__ = f"comma_list({getattr(item, '__name__', 'item')})"
    return convert


def one_of(choices: Sequence[str]) -> Callable[[str], str]:
    """A converter accepting one of ``choices`` (for list items; single options use choices=)."""

    def convert(text: str) -> str:
        if text not in choices:
            raise argparse.ArgumentTypeError(f"expected one of {', '.join(choices)}, got {text!r}")
        return text

    return convert
