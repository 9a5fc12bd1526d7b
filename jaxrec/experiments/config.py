"""Simulation configs: a TOML file (or dict) mapped onto a world, an env, its params and a run.

```toml
[world]            # SyntheticWorldConfig fields (ignored for MovieLens worlds, except seed)
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
worlds = 8
seed = 0
chunk = 100
```
Every key is checked: an unknown key or a bad value raises :class:`ConfigError` naming it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from jaxrec import tomlconfig
from jaxrec.agents.baselines import DEPRECATED_POLICIES, POLICIES
from jaxrec.data.synthetic import SyntheticWorldConfig
from jaxrec.envs.platform import PARAM_KEYS, STATIC_KEYS
from jaxrec.errors import ConfigError

ENV_STATIC_KEYS = STATIC_KEYS
ENV_PARAM_KEYS = PARAM_KEYS
RUN_DEFAULTS = {"steps": 1000, "worlds": 8, "seed": 0, "chunk": 100}
POLICY_KEYS = {
    "static_rerank": ("head_ratio",),
    "quota_rerank": ("head_ratio",),
    "frozen_rerank": ("head_ratio",),
    "fairco": ("head_ratio", "gain"),
}


@dataclasses.dataclass(frozen=True)
class SimulationConfig:
    world: SyntheticWorldConfig
    env_static: dict[str, Any]
    env_params: dict[str, Any]
    policy: str
    policy_kwargs: dict[str, Any]
    run: dict[str, int]


def parse_simulation_config(config: dict[str, Any]) -> SimulationConfig:
    """Validate a config mapping (see module docstring); raises ConfigError naming the key."""
    tomlconfig.check_keys(config, ("world", "env", "policy", "run"), "")
    world = SyntheticWorldConfig.from_dict(tomlconfig.table(config, "world"), section="world")
    env_table = tomlconfig.table(config, "env")
    tomlconfig.check_keys(env_table, tuple(sorted(ENV_STATIC_KEYS + ENV_PARAM_KEYS)), "env")
    env_static = {key: value for key, value in env_table.items() if key in ENV_STATIC_KEYS}
    env_params = {key: value for key, value in env_table.items() if key in ENV_PARAM_KEYS}
    policy_table = tomlconfig.table(config, "policy")
    policy = policy_table.pop("name", "greedy")
    if policy not in POLICIES and policy not in DEPRECATED_POLICIES:
        raise ConfigError(
            "policy.name", f"unknown policy {policy!r}; expected one of {sorted(POLICIES)}"
        )
    tomlconfig.check_keys(policy_table, POLICY_KEYS.get(policy, ()), "policy")
    run = dict(RUN_DEFAULTS)
    run_table = tomlconfig.table(config, "run")
    tomlconfig.check_keys(run_table, tuple(RUN_DEFAULTS), "run")
    for key, value in run_table.items():
        run[key] = tomlconfig.integer(value, f"run.{key}", low=0 if key == "seed" else 1)
    return SimulationConfig(world, env_static, env_params, policy, policy_table, run)


def load_simulation_config(path: str | Path | None) -> SimulationConfig:
    """Read and validate a TOML simulation config; ``None`` gives the defaults."""
    if path is None:
        return parse_simulation_config({})
    return parse_simulation_config(tomlconfig.read_toml(path, "simulation config"))
