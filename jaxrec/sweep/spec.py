"""Sweep files: a TOML description of a grid of configurations x seeds, parsed and validated.

A sweep file is a platform config (:mod:`jaxrec.sweep.schema`: ``[world]``, ``[env]``,
``[policy]``, ``[run]``, shared with ``jaxrec simulate``) with the seeds every point runs with and a
grid over traced parameters (``env.<EnvParams field>`` or ``policy.<policy param>``). Every
error names the offending key (``grid.env.popularity_beta``, ``run.chunk``...), so a typo never
reaches JAX. :data:`EXAMPLE` is the commented file ``jaxrec sweep --print-example`` prints.
"""

from __future__ import annotations

import dataclasses
import itertools
import numbers
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jaxrec import tomlconfig
from jaxrec.data.synthetic import SyntheticWorldConfig
from jaxrec.errors import ConfigError
from jaxrec.sweep.schema import parse_platform_tables, parse_run

EXAMPLE = """\
# A jaxrec sweep: every grid point x every seed runs as ONE compiled program.
# Run it with:  jaxrec sweep this_file.toml --out results/  (add --resume after a crash)
name = "matthew_x_relabel"

[world]                 # a synthetic world (jaxrec.data.SyntheticWorldConfig fields)
seed = 0                # the world is generated once from this seed and shared by all runs
n_users = 128
n_items = 512
n_producers = 32

[env]                   # the platform: its static shape (changing it means another program)
slate_size = 5
taste_drift = 0.05      # and base values of traced parameters (jaxrec.envs.EnvParams fields)

[policy]                # random | most_popular | greedy | quota_rerank | frozen_rerank | fairco |
                        # fairco_item
name = "quota_rerank"
head_ratio = 0.3

[run]                   # the same [world], [env], [policy] and [run] as `jaxrec simulate`'s
steps = 400             # horizon per run (default 1000)
chunk = 100             # steps per compiled chunk (one progress-bar tick, one result part)
seeds = [0, 1, 2]       # or an integer n for seeds 0..n-1
log_every = 10          # metrics are averaged over intervals of this many steps
checkpoint_every = 2    # save the carry every this many chunks (0 = never)

[grid]                  # the cartesian product of these lists; any traced parameter
"env.popularity_beta" = [0.0, 0.5, 1.0]
"env.relabel_every" = [10, 50]
"policy.head_ratio" = [0.0, 0.3]
"""

_TOP_LEVEL = ("name", "world", "env", "params", "policy", "run", "grid", "points")
SWEEP_RUN = {"log_every": 1, "checkpoint_every": 10}  # the run keys a sweep adds to the shared ones


@dataclasses.dataclass(frozen=True)
class SweepSpec:
    """A validated sweep.

    Attributes:
      name: label stored with the results.
      world: synthetic world config; ``world_seed`` generates it (one world shared by all runs).
      env: static :class:`~jaxrec.envs.PlatformEnv` keyword arguments (``n_users`` defaults to the
        world's).
      params: base overrides of traced env parameters, applied to every point.
      policy: policy name; ``policy_kwargs`` its constructor options.
      seeds: the seeds every grid point runs with (common random numbers across points).
      steps, chunk, log_every, checkpoint_every: horizon, compiled-chunk length, logging interval
        (steps) and checkpoint interval (chunks; 0 = never).
      points: one mapping per grid point from ``env.<name>`` / ``policy.<name>`` to its value.
    """

    name: str
    world: SyntheticWorldConfig
    world_seed: int
    env: Mapping[str, Any]
    params: Mapping[str, Any]
    policy: str
    policy_kwargs: Mapping[str, Any]
    seeds: tuple[int, ...]
    steps: int
    chunk: int
    log_every: int
    checkpoint_every: int
    points: tuple[Mapping[str, Any], ...]

    @property
    def grid_keys(self) -> tuple[str, ...]:
        """The varied parameters, in file order."""
        return tuple(self.points[0])

    @property
    def n_runs(self) -> int:
        """Grid points x seeds."""
        return len(self.points) * len(self.seeds)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready, canonical form (two files describing the same sweep compare equal)."""
        return {
            "name": self.name,
            "world": {"seed": self.world_seed, **dataclasses.asdict(self.world)},
            "env": dict(self.env),
            "params": dict(self.params),
            "policy": {"name": self.policy, **self.policy_kwargs},
            "run": {
                "steps": self.steps,
                "chunk": self.chunk,
                "seeds": list(self.seeds),
                "log_every": self.log_every,
                "checkpoint_every": self.checkpoint_every,
            },
            "points": [dict(point) for point in self.points],
        }


def load_sweep(path: str | Path) -> SweepSpec:
    """Read and validate a sweep file.

    Raises:
      DataFormatError: the file is missing or not valid TOML (with the line when known).
      ConfigError: an unknown key, a value of the wrong type or range, or an empty grid, named.
    """
    return spec_from_dict(tomlconfig.read_toml(path, "sweep file"))


def parse_sweep(text: str, source: str = "<sweep>") -> SweepSpec:
    """Parse sweep-file text (see :data:`EXAMPLE`); errors as in :func:`load_sweep`."""
    return spec_from_dict(tomlconfig.parse_toml(text, source))


def spec_from_dict(table: Mapping[str, Any]) -> SweepSpec:
    """Validate a parsed sweep table; see :func:`load_sweep`."""
    from jaxrec.agents.baselines import make_policy
    from jaxrec.envs.platform import PlatformEnv

    tomlconfig.check_keys(table, _TOP_LEVEL, "")
    name = table.get("name", "sweep")
    if not isinstance(name, str):
        raise ConfigError("name", f"must be a string, got {name!r}")

    tables = parse_platform_tables(table, tomlconfig.table(table, "params"))
    world_config, params = tables.world, tables.env_params
    # an [env] n_users was checked against the world's user pool; the world's own count fits it
    env_kwargs = {"n_users": world_config.n_users, **tables.env_static}
    env = PlatformEnv(**env_kwargs)
    # a one-user probe world of the same slate size checks the grid's values below without
    # allocating the world itself (its size is checked by the caller)
    probe = tables.probe_params()
    policy_name, policy_kwargs = tables.policy, tables.policy_kwargs
    policy = make_policy(policy_name, env, **policy_kwargs)
    policy_fields = set(getattr(type(policy.init_params()), "__dataclass_fields__", {}))

    run = parse_run(table, SWEEP_RUN, low={"checkpoint_every": 0}, untyped=("seeds",))
    steps, log_every = run["steps"], run["log_every"]
    chunk = min(run["chunk"], steps)
    seeds = _seeds(run.get("seeds", 1))
    if chunk % log_every or steps % log_every:
        raise ConfigError(
            "run.log_every",
            f"must divide run.chunk ({chunk}) and run.steps ({steps}), got {log_every}",
        )

    points = _points(table)
    for point in points:
        env_values = {}
        for key, value in point.items():
            scope, _, field = key.partition(".")
            if scope == "env":
                if field == "world" or field not in probe.__dataclass_fields__:
                    known = sorted(set(probe.__dataclass_fields__) - {"world"})
                    raise ConfigError(
                        f"grid.{key}", f"unknown env parameter; expected one of {known}"
                    )
                env_values[field] = value
            elif scope == "policy":
                if field not in policy_fields:
                    raise ConfigError(
                        f"grid.{key}",
                        f"policy {policy_name!r} has no traced parameter {field!r}; "
                        f"it has {sorted(policy_fields) or 'none'}",
                    )
                _prefixed(
                    lambda f=field, v=value: make_policy(
                        policy_name, env, **{**policy_kwargs, f: v}
                    ),
                    "grid.",
                )
            else:
                raise ConfigError(f"grid.{key}", "grid keys start with 'env.' or 'policy.'")
        _prefixed(lambda v=env_values: env.replace_params(probe, **v), "grid.")

    return SweepSpec(
        name=name,
        world=world_config,
        world_seed=tables.world_seed,
        env=env_kwargs,
        params=params,
        policy=policy_name,
        policy_kwargs=policy_kwargs,
        seeds=seeds,
        steps=steps,
        chunk=chunk,
        log_every=log_every,
        checkpoint_every=run["checkpoint_every"],
        points=tuple(points),
    )


def _points(table: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Grid points from ``[grid]`` (cartesian product) or ``[[points]]`` (an explicit list)."""
    if "grid" in table and "points" in table:
        raise ConfigError("points", "give either [grid] or [[points]], not both")
    if "points" in table:
        points = table["points"]
        if not isinstance(points, list) or not points:
            raise ConfigError("points", "must be a non-empty list of tables ([[points]])")
        keys = None
        for i, point in enumerate(points):
            if not isinstance(point, dict) or not point:
                raise ConfigError(f"points[{i}]", "must be a non-empty table")
            if keys is not None and set(point) != keys:
                raise ConfigError(f"points[{i}]", f"must set the same keys as points[0]: {keys}")
            keys = set(point)
            for key, value in point.items():
                _number_or_list(value, f"points[{i}].{key}")
        return [dict(point) for point in points]
    grid = tomlconfig.table(table, "grid")
    if not grid:
        raise ConfigError(
            "grid",
            'no parameter to vary: give a [grid] table of lists (e.g. "env.popularity_beta" = '
            "[0.0, 1.0]) or [[points]]; `jaxrec sweep --print-example` prints a complete file",
        )
    axes = []
    for key, values in grid.items():
        if not isinstance(values, list):
            values = [values]
        if not values:
            raise ConfigError(f"grid.{key}", "empty list: give at least one value")
        for value in values:
            _number_or_list(value, f"grid.{key}")
        axes.append(values)
    return [dict(zip(grid, combo, strict=True)) for combo in itertools.product(*axes)]


def _seeds(value: Any) -> tuple[int, ...]:
    if isinstance(value, list):
        if not value:
            raise ConfigError("run.seeds", "empty list: give at least one seed")
        seeds = tuple(tomlconfig.integer(seed, "run.seeds", low=0) for seed in value)
        if len(set(seeds)) != len(seeds):
            raise ConfigError("run.seeds", f"seeds repeat: {list(seeds)}")
        return seeds
    return tuple(range(tomlconfig.integer(value, "run.seeds", low=1)))


def _number_or_list(value: Any, field: str) -> None:
    items = value if isinstance(value, list) else [value]
    for item in items:
        if not isinstance(item, numbers.Real) or isinstance(item, str):
            raise ConfigError(field, f"must be a number (or a list of numbers), got {value!r}")


def _prefixed(build, prefix: str, strip: str = ""):
    """Call ``build``; re-raise its ConfigError under the sweep-file key (``prefix`` + field)."""
    try:
        return build()
    except ConfigError as err:
        field = err.field.removeprefix(strip) if strip else err.field
        message = str(err).split(": ", 1)[1]
        raise ConfigError(f"{prefix}{field}", message) from None
