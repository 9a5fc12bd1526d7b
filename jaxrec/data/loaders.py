"""One entry point for every MovieLens format: :func:`load_ratings` keyed by dataset name."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from jaxrec.data.movielens import MovieLensData, load_ml1m, load_ml100k
from jaxrec.data.movielens_latest import load_ml_latest
from jaxrec.errors import ConfigError

# Dataset name (the commands' --data value) -> (loader, what the directory must hold).
LOADERS: dict[str, tuple[Callable[[str | Path], MovieLensData], str]] = {
    "ml-100k": (load_ml100k, "u.data, u.user, u.item"),
    "ml-1m": (load_ml1m, "ratings.dat, users.dat, movies.dat"),
    "ml-latest": (load_ml_latest, "ratings.csv, movies.csv"),
}
DATASETS = tuple(LOADERS)


def load_ratings(name: str, directory: str | Path | None) -> MovieLensData:
    """Load the MovieLens dataset ``name`` (``ml-100k``, ``ml-1m`` or ``ml-latest``) from ``directory``.

    Raises:
      ConfigError: unknown ``name`` (option ``data``) or no ``directory`` (option ``data_dir``).
      DataFormatError: as the format's loader.
    """
    if name not in LOADERS:
        raise ConfigError("data", f"expected one of {', '.join(DATASETS)}, got {name!r}")
    loader, files = LOADERS[name]
    if not directory:
        raise ConfigError("data_dir", f"--data {name} needs --data-dir with {files}")
    return loader(directory)
