"""The platform config schema every entry point reads: ``[world]``, ``[env]``, ``[policy]``, ``[run]``.

One table per concern and one name and one default per knob, whichever command reads the file
(``jaxrec simulate CONFIG``, ``jaxrec sweep FILE``, ``jaxrec closed-loop --config FILE``,
``jaxrec train platform --config FILE``; the last two read only part of it,
:func:`jaxrec.experiments.config.load_experiment_config`):

- ``[world]``: :class:`~jaxrec.data.SyntheticWorldConfig` fields and ``seed``, the seed the
  synthetic world is generated from (default 0; for a MovieLens world, the seed of its MF fit).
- ``[env]``: the platform's static shape (:data:`~jaxrec.envs.platform.STATIC_KEYS`, e.g.
  ``slate_size``) and base values of its traced parameters
  (:data:`~jaxrec.envs.platform.PARAM_KEYS`, e.g. ``popularity_beta``), both derived from
  :class:`~jaxrec.envs.PlatformEnv` here and nowhere else.
- ``[policy]``: ``name`` (default :data:`DEFAULT_POLICY`) and the policy's options.
- ``[run]``: ``steps`` and ``chunk`` (defaults :data:`RUN_DEFAULTS`) plus what a command adds
  (``worlds`` and ``seed`` for a simulation, ``seeds``, ``log_every`` and ``checkpoint_every`` for
  a sweep).

Every key is checked here once, on a one-user probe world of the same slate size (nothing of the
real world's size is allocated), and every error names the dotted key (``env.popularity_beta``).
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Mapping
from typing import Any

from jaxrec import tomlconfig
from jaxrec.agents.baselines import DEPRECATED_POLICIES, POLICIES, make_policy
from jaxrec.data.synthetic import SyntheticWorldConfig, probe_world
from jaxrec.envs.platform import PARAM_KEYS, STATIC_KEYS, EnvParams, PlatformEnv
from jaxrec.errors import ConfigError

DEFAULT_POLICY = "greedy"
RUN_DEFAULTS = {"steps": 1000, "chunk": 100}
# untraced policy options a config may set (traced ones are checked by building the policy)
POLICY_KEYS = {
    "static_rerank": ("head_ratio",),
    "quota_rerank": ("head_ratio",),
    "frozen_rerank": ("head_ratio",),
    "fairco": ("head_ratio", "gain"),
    "fairco_item": ("gain",),
}


@dataclasses.dataclass(frozen=True)
class PlatformTables:
    """The validated ``[world]``, ``[env]`` and ``[policy]`` tables of a platform config.

    Attributes:
      world: the synthetic world's config; ``world_seed`` the seed it is generated from.
      env_static: :class:`PlatformEnv` keyword arguments (``n_users`` not filled in).
      env_params: base values of traced :class:`~jaxrec.envs.EnvParams` fields.
      policy: the policy name; ``policy_kwargs`` its options.
    """

    world: SyntheticWorldConfig
    world_seed: int
    env_static: dict[str, Any]
    env_params: dict[str, Any]
    policy: str
    policy_kwargs: dict[str, Any]

    def probe_env(self) -> PlatformEnv:
        """A one-user platform of the configured shape, for checks that must not allocate."""
        return PlatformEnv(**{**self.env_static, "n_users": 1})

    def probe_params(self, **overrides: Any) -> EnvParams:
        """The env params of :meth:`probe_env` on a probe world of the configured world's shape,
        with ``overrides`` over ``env_params``: checks every value, names a bad one
        (``env.<field>``), and allocates nothing of the real world's size."""
        env = self.probe_env()
        world = probe_world(self.world, env.slate_size)
        return env.default_params(world, **{**self.env_params, **overrides})


def parse_platform_tables(
    config: Mapping[str, Any], params_table: Mapping[str, Any] | None = None
) -> PlatformTables:
    """Validate the world, env and policy tables of ``config``; ``ConfigError`` names the key.

    ``params_table``: traced parameters given under the old sweep-file name ``[params]``; they are
    read as ``[env]`` values (a ``DeprecationWarning`` says so).
    """
    world_table = tomlconfig.table(config, "world")
    world_seed = tomlconfig.integer(world_table.pop("seed", 0), "world.seed", low=0)
    world = SyntheticWorldConfig.from_dict(world_table, section="world")

    env_table = tomlconfig.table(config, "env")
    tomlconfig.check_keys(env_table, tuple(sorted(STATIC_KEYS + PARAM_KEYS)), "env")
    env_static = {key: value for key, value in env_table.items() if key in STATIC_KEYS}
    env_params = {key: value for key, value in env_table.items() if key in PARAM_KEYS}
    if params_table:
        tomlconfig.check_keys(params_table, PARAM_KEYS, "params")
        for key in params_table.keys() & env_params.keys():
            raise ConfigError(f"params.{key}", "also set under [env]; keep one of the two")
        warnings.warn(
            "the [params] table is now part of [env]: move its keys there",
            DeprecationWarning,
            stacklevel=3,
        )
        env_params.update(params_table)
    if "n_users" in env_static:
        PlatformEnv(**env_static)  # checks every static field, n_users included
        if env_static["n_users"] > world.n_pool_users:
            raise ConfigError("env.n_users", f"exceeds the world's {world.n_pool_users} users")

    policy_kwargs = tomlconfig.table(config, "policy")
    policy = policy_kwargs.pop("name", DEFAULT_POLICY)
    if not isinstance(policy, str) or (
        policy not in POLICIES and policy not in DEPRECATED_POLICIES
    ):
        raise ConfigError(
            "policy.name", f"unknown policy {policy!r}; expected one of {sorted(POLICIES)}"
        )
    tomlconfig.check_keys(policy_kwargs, POLICY_KEYS.get(policy, ()), "policy")
    tables = PlatformTables(world, world_seed, env_static, env_params, policy, policy_kwargs)
    tables.probe_params()
    make_policy(policy, tables.probe_env(), **policy_kwargs)
    return tables


def parse_run(
    config: Mapping[str, Any],
    extra: Mapping[str, int],
    low: Mapping[str, int] | None = None,
    untyped: tuple[str, ...] = (),
) -> dict[str, Any]:
    """The ``[run]`` table: :data:`RUN_DEFAULTS` plus a command's ``extra`` integer keys (their
    defaults), each an integer >= its ``low`` (default 1). ``untyped`` keys are allowed and passed
    through for the command to check (a sweep's ``seeds``); any other key is an error."""
    defaults = {**RUN_DEFAULTS, **extra}
    run_table = tomlconfig.table(config, "run")
    tomlconfig.check_keys(run_table, (*defaults, *untyped), "run")
    run = {**defaults, **run_table}
    lows = {key: 1 for key in defaults} | dict(low or {})
    for key in defaults:
        run[key] = tomlconfig.integer(run[key], f"run.{key}", low=lows[key])
    return run
