"""Shared test configuration."""

from __future__ import annotations

import os

import pytest

# Tests run on CPU with float32, as users do by default; keep XLA from grabbing every core per worker.
os.environ.setdefault("JAX_PLATFORMS", "cpu")
# figures go to files: never a GUI backend (library code leaves the backend alone)
os.environ.setdefault("MPLBACKEND", "Agg")

from hypothesis import HealthCheck, settings

# JAX compiles on first call, which hypothesis would otherwise report as a slow example.
settings.register_profile(
    "jaxrec",
    deadline=None,
    max_examples=30,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.load_profile("jaxrec")


def write_ml100k_files(directory, n_users=30, n_items=40, per_user=12, seed=0):
    """A small ratings set in the official ML-100K file formats: each user rates ``per_user``
    distinct items at random (all of them when ``per_user >= n_items``)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    directory.mkdir()
    users = "".join(f"{u}|{20 + u}|M|other|0{u:04d}\n" for u in range(1, n_users + 1))
    flags = "|".join(["0"] * 18 + ["1"])
    items = "".join(
        f"{i}|Film {i} (1990)|01-Jan-1990||http://x|{flags}\n" for i in range(1, n_items + 1)
    )
    ratings = []
    for u in range(1, n_users + 1):
        for i in rng.choice(n_items, size=min(per_user, n_items), replace=False) + 1:
            ratings.append(f"{u}\t{i}\t{rng.integers(1, 6)}\t{880000000 + len(ratings)}\n")
    (directory / "u.user").write_text(users, encoding="latin-1")
    (directory / "u.item").write_text(items, encoding="latin-1")
    (directory / "u.data").write_text("".join(ratings), encoding="latin-1")
    return directory


@pytest.fixture
def ml100k_files():
    """:func:`write_ml100k_files`, for tests that need MovieLens-100K files on disk."""
    return write_ml100k_files
