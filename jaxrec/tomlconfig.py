"""Reading and checking TOML configuration files, with errors that name the file, line or key.

Shared by the simulation configs (:mod:`jaxrec.experiments.config`), sweep files (:mod:`jaxrec.sweep.spec`)
and marketplace policy files (:mod:`jaxrec.agents.marketplace`).
"""

from __future__ import annotations

import math
import numbers
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jaxrec.errors import ConfigError, DataFormatError


def parse_toml(text: str, source: str) -> dict[str, Any]:
    """Decode TOML text; a syntax error becomes a DataFormatError naming ``source`` and the line."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        # tomllib gives the line only in its message before Python 3.14
        found = re.search(r"line (\d+)", str(err))
        line = getattr(err, "lineno", None) or (int(found.group(1)) if found else None)
        raise DataFormatError(source, f"invalid TOML: {err}", line=line) from None


def read_toml(path: str | Path, what: str) -> dict[str, Any]:
    """Read and decode a TOML file; ``what`` names the kind of file in the error messages."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise DataFormatError(str(path), f"cannot read the {what}: {err.strerror}") from None
    return parse_toml(text, source=str(path))


def table(config: Mapping[str, Any], key: str) -> dict[str, Any]:
    """The sub-table ``[key]`` of ``config`` (empty when absent); anything else is a ConfigError."""
    value = config.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(key, f"must be a table ([{key}]), got {value!r}")
    return dict(value)


def check_keys(config: Mapping[str, Any], known: tuple[str, ...], section: str) -> None:
    """Raise a ConfigError naming ``section.key`` for the first key not in ``known``."""
    for key in config:
        if key not in known:
            name = f"{section}.{key}" if section else key
            raise ConfigError(name, f"unknown key; expected one of {', '.join(known)}")


def integer(value: Any, field: str, low: int) -> int:
    """``value`` as an int >= ``low`` (booleans and non-integers are refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ConfigError(field, f"must be an integer, got {value!r}")
    if value < low:
        raise ConfigError(field, f"must be >= {low}, got {value}")
    return int(value)


def number(value: Any, field: str, low: float | None = None, high: float | None = None) -> float:
    """``value`` as a finite float in ``[low, high]`` (booleans, strings, NaN and inf are refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ConfigError(field, f"must be a number, got {value!r}")
    if not math.isfinite(value):
        raise ConfigError(field, f"must be a finite number, got {value!r}")
    if low is not None and high is not None and not low <= value <= high:
        raise ConfigError(field, f"must lie in [{low:g}, {high:g}], got {value}")
    if low is not None and value < low:
        raise ConfigError(field, f"must be >= {low:g}, got {value}")
    if high is not None and value > high:
        raise ConfigError(field, f"must be <= {high:g}, got {value}")
    return float(value)


def boolean(value: Any, field: str) -> bool:
    """``value`` as a bool: only TOML ``true``/``false`` (not ``"no"``, not 0/1)."""
    if not isinstance(value, bool):
        raise ConfigError(field, f"must be true or false, got {value!r}")
    return value


def choice(value: Any, field: str, choices: tuple[str, ...]) -> str:
    """``value`` as one of the strings ``choices``."""
    if not isinstance(value, str) or value not in choices:
        raise ConfigError(field, f"must be one of {', '.join(choices)}, got {value!r}")
    return value
