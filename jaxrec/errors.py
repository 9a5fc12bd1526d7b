"""Error types that name what was wrong, so users never see a traceback from deep inside JAX."""

from __future__ import annotations


class JaxrecError(Exception):
    """Base class of every error jaxrec raises on purpose."""


class ConfigError(JaxrecError, ValueError):
    """A configuration value is missing, of the wrong type or out of range.

    The message always starts with the dotted name of the offending field.
    """

    def __init__(self, field: str, message: str):
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


class DataFormatError(JaxrecError, ValueError):
    """A data file is missing, malformed or wrongly encoded.

    The message names the file and, where known, the 1-based line number.
    """

    def __init__(self, path: str, message: str, line: int | None = None):
        self.path = str(path)
        self.line = line
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {message}")


class NonFiniteError(JaxrecError, FloatingPointError):
    """A simulation or training run produced NaN or infinite values."""


class ResourceError(JaxrecError, MemoryError):
    """A run would need more memory than the device has; the message gives the estimate and limit."""


class Interrupted(JaxrecError):
    """A run stopped early on request (Ctrl-C) at a chunk boundary; what finished was kept.

    The message says where it stopped, what was kept and how to resume when the command can.
    """
