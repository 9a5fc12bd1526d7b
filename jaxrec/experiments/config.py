"""Simulation configs: a TOML file (or dict) in the platform schema, plus a simulation's run keys.

```toml
[world]            # SyntheticWorldConfig fields (MovieLens worlds read only dim, n_producers)
seed = 0           # the world's seed (default 0; `jaxrec simulate --seed` sets it too)
n_users = 1024
n_items = 1682
[env]              # PlatformEnv static fields and any EnvParams field
slate_size = 10
popularity_beta = 1.0
[policy]
name = "frozen_rerank"
head_ratio = 0.3
[run]
steps = 1000
worlds = 8         # parallel worlds (independent rollouts of the same world)
seed = 0           # the rollouts' seed
chunk = 100
```
The ``[world]``, ``[env]`` and ``[policy]`` tables and the ``steps``/``chunk`` defaults are the
schema every entry point shares (:mod:`jaxrec.sweep.schema`). Every key is checked: an unknown key
or a bad value raises :class:`ConfigError` naming it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from jaxrec import tomlconfig
from jaxrec.sweep.schema import RUN_DEFAULTS as SHARED_RUN_DEFAULTS
from jaxrec.sweep.schema import PlatformTables, parse_platform_tables, parse_run

SIMULATION_RUN = {"worlds": 8, "seed": 0}  # the run keys a simulation adds to the shared ones
RUN_DEFAULTS = {**SHARED_RUN_DEFAULTS, **SIMULATION_RUN}


@dataclasses.dataclass(frozen=True)
class SimulationConfig(PlatformTables):
    """The platform tables (:class:`~jaxrec.sweep.schema.PlatformTables`) and a simulation's
    ``run`` keys (:data:`RUN_DEFAULTS`)."""

    run: dict[str, int]


def parse_simulation_config(config: dict[str, Any]) -> SimulationConfig:
    """Validate a config mapping (see module docstring); raises ConfigError naming the key."""
    tomlconfig.check_keys(config, ("world", "env", "policy", "run"), "")
    tables = parse_platform_tables(config)
    run = parse_run(config, SIMULATION_RUN, low={"seed": 0})
    fields = {field.name: getattr(tables, field.name) for field in dataclasses.fields(tables)}
    return SimulationConfig(**fields, run=run)


def load_simulation_config(path: str | Path | None) -> SimulationConfig:
    """Read and validate a TOML simulation config; ``None`` gives the defaults."""
    if path is None:
        return parse_simulation_config({})
    return parse_simulation_config(tomlconfig.read_toml(path, "simulation config"))
