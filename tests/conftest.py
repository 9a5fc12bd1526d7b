"""Shared test configuration."""

from __future__ import annotations

import os

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
