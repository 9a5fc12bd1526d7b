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
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from jaxrec import tomlconfig
from jaxrec.errors import ConfigError
from jaxrec.sweep.schema import RUN_DEFAULTS as SHARED_RUN_DEFAULTS
from jaxrec.sweep.schema import PlatformTables, parse_platform_tables, parse_run

EXPERIMENT_CONFIGS = Path(__file__).with_name("configs")  # each experiment's shipped settings
SIMULATION_RUN = {"worlds": 8, "seed": 0}  # the run keys a simulation adds to the shared ones
RUN_DEFAULTS = {**SHARED_RUN_DEFAULTS, **SIMULATION_RUN}


@dataclasses.dataclass(frozen=True)
class SimulationConfig(PlatformTables):
    """The platform tables (:class:`~jaxrec.sweep.schema.PlatformTables`) and a simulation's
    ``run`` keys (:data:`RUN_DEFAULTS`)."""

    run: dict[str, int]


def parse_simulation_config(
    config: Mapping[str, Any], run_keys: Mapping[str, int] = SIMULATION_RUN
) -> SimulationConfig:
    """Validate a config mapping (see module docstring); raises ConfigError naming the key.
    ``run_keys``: the integer ``[run]`` keys the reading command adds, with their defaults."""
    tomlconfig.check_keys(config, ("world", "env", "policy", "run"), "")
    tables = parse_platform_tables(config)
    run = parse_run(config, run_keys, low={"seed": 0})
    fields = {field.name: getattr(tables, field.name) for field in dataclasses.fields(tables)}
    return SimulationConfig(**fields, run=run)


def load_experiment_config(
    path: str | Path | None,
    command: str,
    reads: Mapping[str, Sequence[str] | None],
    run_keys: Mapping[str, int] = SIMULATION_RUN,
    overrides: Sequence[tuple[str, str, Any]] = (),
    refused: Mapping[str, str] | None = None,
) -> SimulationConfig:
    """Read an experiment's config file in the platform schema, for a command that reads only
    part of it, with the command line's values over the file's.

    Args:
      path: the TOML file (an experiment's shipped settings are in :data:`EXPERIMENT_CONFIGS`);
        ``None`` gives the schema's defaults.
      command: the reading command, named in errors.
      reads: ``{table: keys the command honours}`` (``None``: every key of the schema); a table
        or key the file sets outside it is a ConfigError naming it, never silently ignored.
      run_keys: the integer ``[run]`` keys the command adds, with their defaults.
      overrides: ``(option, "table.key", value)`` triples; each value that is not ``None``
        replaces the file's, and an error about that key names the option too.
      refused: ``{"table.key": why}``: schema keys the file may not set, and why (the command
        sets them itself).
    """
    config = {} if path is None else tomlconfig.read_toml(path, f"{command} config")
    for table, keys in config.items():
        if table not in reads:
            raise ConfigError(
                table, f"{command} does not read a [{table}] table; it reads {sorted(reads)}"
            )
        for key in keys if isinstance(keys, dict) else ():
            dotted, honoured = f"{table}.{key}", reads[table]
            if dotted in (refused or {}):
                raise ConfigError(dotted, f"{command} does not read it: {refused[dotted]}")
            if honoured is not None and key not in honoured:
                raise ConfigError(
                    dotted, f"{command} does not read it; it reads {sorted(honoured)}"
                )
    given = {}
    for option, dotted, value in overrides:
        if value is not None:
            table, key = dotted.split(".")
            config.setdefault(table, {})[key] = value
            given.setdefault(dotted, []).append(option)
    try:
        return parse_simulation_config(config, run_keys)
    except ConfigError as err:
        if err.field not in given:
            raise
        options = " / ".join(given[err.field])
        raise ConfigError(f"{options} ({err.field})", err.message) from None
