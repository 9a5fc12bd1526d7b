"""Simulation configs: a TOML file (or dict) mapped onto a world, an env, its params and a run.

```toml
[world]            # SyntheticWorldConfig fields (ignored for MovieLens worlds, except seed)
n_users = 1024
n_items = 1682
[env]              # PlatformEnv static fields and any EnvParams field
slate_size = 10
popularity_beta = 1.0
[policy]
name = "static_rerank"
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
import tomllib
from pathlib import Path
from typing import Any

from jaxrec.agents.baselines import POLICIES
from jaxrec.data.synthetic import SyntheticWorldConfig
from jaxrec.envs.platform import EnvParams
from jaxrec.errors import ConfigError

ENV_STATIC_KEYS = (
    "n_users",
    "slate_size",
    "history_len",
    "seen_window",
    "mask_history",
    "log_steps",
)
ENV_PARAM_KEYS = tuple(name for name in EnvParams.__dataclass_fields__ if name != "world")
RUN_DEFAULTS = {"steps": 1000, "worlds": 8, "seed": 0, "chunk": 100}
POLICY_KEYS = {"static_rerank": ("head_ratio",)}


@dataclasses.dataclass(frozen=True)
class SimulationConfig:
    world: SyntheticWorldConfig
    env_static: dict[str, Any]
    env_params: dict[str, Any]
    policy: str
    policy_kwargs: dict[str, Any]
    run: dict[str, int]


def _table(config: dict[str, Any], name: str) -> dict[str, Any]:
    table = config.get(name, {})
    if not isinstance(table, dict):
        raise ConfigError(name, f"expected a table [{name}], got {type(table).__name__}")
    return dict(table)


def parse_simulation_config(config: dict[str, Any]) -> SimulationConfig:
    """Validate a config mapping (see module docstring); raises ConfigError naming the key."""
    unknown = set(config) - {"world", "env", "policy", "run"}
    if unknown:
        raise ConfigError(sorted(unknown)[0], "unknown section; expected world, env, policy or run")
    world = SyntheticWorldConfig.from_dict(_table(config, "world"), section="world")
    env_table = _table(config, "env")
    env_static, env_params = {}, {}
    for key, value in env_table.items():
        if key in ENV_STATIC_KEYS:
            env_static[key] = value
        elif key in ENV_PARAM_KEYS:
            env_params[key] = value
        else:
            raise ConfigError(
                f"env.{key}",
                f"unknown key; expected one of {', '.join(sorted(ENV_STATIC_KEYS + ENV_PARAM_KEYS))}",
            )
    policy_table = _table(config, "policy")
    policy = policy_table.pop("name", "greedy")
    if policy not in POLICIES:
        raise ConfigError(
            "policy.name", f"unknown policy {policy!r}; expected one of {sorted(POLICIES)}"
        )
    for key in policy_table:
        if key not in POLICY_KEYS.get(policy, ()):
            raise ConfigError(f"policy.{key}", f"not a parameter of policy {policy!r}")
    run = dict(RUN_DEFAULTS)
    for key, value in _table(config, "run").items():
        if key not in RUN_DEFAULTS:
            raise ConfigError(
                f"run.{key}", f"unknown key; expected one of {', '.join(RUN_DEFAULTS)}"
            )
        if (
            not isinstance(value, int)
            or isinstance(value, bool)
            or value < (0 if key == "seed" else 1)
        ):
            raise ConfigError(f"run.{key}", f"expected a positive integer, got {value!r}")
        run[key] = value
    return SimulationConfig(world, env_static, env_params, policy, policy_table, run)


def load_simulation_config(path: str | Path | None) -> SimulationConfig:
    """Read and validate a TOML simulation config; ``None`` gives the defaults."""
    if path is None:
        return parse_simulation_config({})
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as err:
        raise ConfigError(str(path), "config file not found") from err
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(str(path), f"not valid TOML: {err}") from err
    return parse_simulation_config(raw)
