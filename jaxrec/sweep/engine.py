"""One compiled program for a whole sweep: grid points x seeds as one ``vmap``, sharded over devices.

The R = G x S runs of a sweep (G grid points, S seeds) form one *run axis*. Per-run values — the
traced env parameters and policy parameters of the run's grid point, and the run's PRNG key —
are stacked along it; the world is shared (broadcast with ``in_axes=None``, replicated on every
device). The run axis is sharded over all devices of a 1-D :class:`jax.sharding.Mesh` (axis
``"runs"``), padded to a multiple of the device count with copies of run 0, so a sweep runs on one
CPU, eight GPUs or many hosts with the same program. Runs are independent, so the sharded program
needs no communication and each run's numbers do not depend on the batch it is in.

A run's key is ``jax.random.key(seed)``: every grid point sees the same random numbers for a given
seed (common random numbers), so differences between points are not seed noise.

Long horizons run as a Python loop over compiled chunks (:meth:`SweepProgram.run_chunk`): only the
last chunk may be shorter, so at most two programs compile whatever the horizon. The carry holds
keys as raw ``uint32`` key data, so it can be checkpointed as plain arrays.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from jaxrec.agents.baselines import make_policy
from jaxrec.data.synthetic import synthetic_world
from jaxrec.envs.platform import PlatformEnv
from jaxrec.envs.platform_types import EnvParams
from jaxrec.envs.rollout import init_carry, make_rollout
from jaxrec.ops.chunks import per_length
from jaxrec.sweep.spec import SweepSpec

RUN_AXIS = "runs"


def stack_trees(trees: list[Any]) -> Any:
    """Stack same-structured pytrees leaf by leaf into NumPy arrays with a new leading axis."""
    return jax.tree.map(lambda *leaves: np.stack([np.asarray(x) for x in leaves]), *trees)


def global_array(value: np.ndarray, sharding: NamedSharding) -> jax.Array:
    """Place a host array (the same on every process) as a global array with ``sharding``."""
    value = np.asarray(value)
    return jax.make_array_from_callback(value.shape, sharding, lambda index: value[index])


def local_rows(array: jax.Array) -> tuple[np.ndarray, np.ndarray]:
    """The rows of a run-sharded array that live on this process: ``(run indices, values)``."""
    pieces: dict[int, np.ndarray] = {}
    for shard in array.addressable_shards:
        start = shard.index[0].start or 0
        pieces.setdefault(start, np.asarray(shard.data))
    starts = sorted(pieces)
    values = np.concatenate([pieces[s] for s in starts])
    runs = np.concatenate([np.arange(s, s + len(pieces[s])) for s in starts])
    return runs, values


class SweepProgram:
    """The compiled sweep: batched inputs on devices and one chunk program per chunk length.

    Attributes:
      spec: the sweep.
      env, policy: the platform and the policy acting in every run.
      mesh: the 1-D device mesh of the run axis.
      n_runs: R = G x S real runs; ``n_padded`` >= R is the run-axis length on devices.
      run_point, run_seed: i32[R] grid-point index and seed of each run (run r = point r // S,
        seed ``spec.seeds[r % S]``).
      n_traces: how many times a chunk program was traced (1 per distinct chunk length).
    """

    def __init__(self, spec: SweepSpec, devices: list[Any] | None = None):
        self.spec = spec
        self.env = PlatformEnv(**spec.env)
        self.policy = make_policy(spec.policy, self.env, **spec.policy_kwargs)
        devices = jax.devices() if devices is None else devices
        self.mesh = Mesh(np.asarray(devices), (RUN_AXIS,))
        n_seeds = len(spec.seeds)
        self.n_runs = len(spec.points) * n_seeds
        self.n_padded = -(-self.n_runs // len(devices)) * len(devices)
        self.run_point = np.arange(self.n_runs) // n_seeds
        self.run_seed = np.asarray(spec.seeds)[np.arange(self.n_runs) % n_seeds]
        self.n_traces = 0
        self._program = per_length(self._compile)
        self._init_program: Callable | None = None

        world = synthetic_world(spec.world_seed, spec.world)
        base = self.env.default_params(world, **spec.params)
        env_points, policy_points = [], []
        for point in spec.points:
            env_values = {k[4:]: v for k, v in point.items() if k.startswith("env.")}
            policy_values = {k[7:]: v for k, v in point.items() if k.startswith("policy.")}
            env_points.append(self.env.replace_params(base, **env_values).replace(world=None))
            policy = make_policy(spec.policy, self.env, **{**spec.policy_kwargs, **policy_values})
            policy_points.append(policy.init_params())
        # Pad with copies of run 0 so the run axis divides the device count.
        pad_index = np.concatenate(
            [np.arange(self.n_runs), np.zeros(self.n_padded - self.n_runs, int)]
        )
        point_of_slot = self.run_point[pad_index]
        take = lambda tree: jax.tree.map(lambda x: x[point_of_slot], stack_trees(tree))  # noqa: E731

        self.run_sharding = NamedSharding(self.mesh, PartitionSpec(RUN_AXIS))
        replicated = NamedSharding(self.mesh, PartitionSpec())
        env_stacked = take(env_points)
        world_global = jax.tree.map(lambda x: global_array(x, replicated), world)
        self.env_params: EnvParams = jax.tree.map(
            lambda x: global_array(x, self.run_sharding), env_stacked
        ).replace(world=world_global)
        self.env_axes = jax.tree.map(lambda _: 0, env_stacked).replace(world=None)
        self.env_shardings = jax.tree.map(lambda _: self.run_sharding, env_stacked).replace(
            world=jax.tree.map(lambda _: replicated, world)
        )
        self.policy_params = jax.tree.map(
            lambda x: global_array(x, self.run_sharding), take(policy_points)
        )
        seed_keys = np.stack(
            [np.asarray(jax.random.key_data(jax.random.key(s))) for s in spec.seeds]
        )
        self.run_keys = global_array(seed_keys[pad_index % n_seeds], self.run_sharding)

    # ------------------------------------------------------------------ programs
    def init(self) -> Any:
        """The starting carry of every run: ``(obs, state, raw_key)`` (and the policy's memory,
        if it has one) with a leading run axis."""
        if self._init_program is None:

            def init_one(raw_key, env_params, policy_params):
                obs, state, key, *memory = init_carry(
                    self.env,
                    jax.random.wrap_key_data(raw_key),
                    env_params,
                    self.policy,
                    policy_params,
                )
                return obs, state, jax.random.key_data(key), *memory

            self._init_program = jax.jit(
                jax.vmap(init_one, in_axes=(0, self.env_axes, 0)),
                in_shardings=(self.run_sharding, self.env_shardings, self.run_sharding),
                out_shardings=self.run_sharding,
            )
        return self._init_program(self.run_keys, self.env_params, self.policy_params)

    def abstract_carry(self) -> Any:
        """Shapes, dtypes and shardings of the carry, for restoring a checkpoint."""
        shapes = jax.eval_shape(self.init)
        return jax.tree.map(
            lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=self.run_sharding), shapes
        )

    def run_chunk(self, carry: Any, length: int) -> tuple[Any, dict[str, jax.Array]]:
        """Advance every run ``length`` steps (donates ``carry``).

        Returns the new carry and metrics: name -> f32[n_padded, length // log_every], each entry
        the mean over one logging interval.
        """
        return self._program(length)(carry, self.env_params, self.policy_params)

    def _compile(self, length: int) -> Callable:
        rollout = make_rollout(self.env, self.policy, length)
        log_every = self.spec.log_every

        def chunk_one(carry, env_params, policy_params):
            self.n_traces += 1  # runs at trace time only
            obs, state, raw_key, *memory = carry
            carry = (obs, state, jax.random.wrap_key_data(raw_key), *memory)
            (obs, state, key, *memory), metrics = rollout(carry, env_params, policy_params)
            intervals = {
                name: jnp.mean(values.reshape(-1, log_every), axis=1)
                for name, values in metrics.items()
            }
            return (obs, state, jax.random.key_data(key), *memory), intervals

        return jax.jit(
            jax.vmap(chunk_one, in_axes=(0, self.env_axes, 0)),
            in_shardings=(self.run_sharding, self.env_shardings, self.run_sharding),
            out_shardings=(self.run_sharding, self.run_sharding),
            donate_argnums=(0,),
        )

    # ------------------------------------------------------------------ results
    def frame(self, metrics: dict[str, jax.Array], start_step: int) -> pd.DataFrame:
        """Tidy rows of this process's runs for one chunk's metrics.

        One row per (run, logging interval): ``run, point, seed, step`` (the last step of the
        interval, 1-based), the grid values of the point, then one column per metric.
        """
        names = sorted(metrics)
        runs, first = local_rows(metrics[names[0]])
        keep = runs < self.n_runs
        runs = runs[keep]
        n_logs = first.shape[1]
        columns: dict[str, Any] = {
            "run": np.repeat(runs, n_logs).astype(np.int32),
            "point": np.repeat(self.run_point[runs], n_logs).astype(np.int32),
            "seed": np.repeat(self.run_seed[runs], n_logs).astype(np.int64),
            "step": np.tile(
                start_step + self.spec.log_every * np.arange(1, n_logs + 1), len(runs)
            ).astype(np.int64),
        }
        for key in self.spec.grid_keys:
            # A vector value (e.g. an examination curve) is stored as its text.
            values = [_cell(self.spec.points[p][key]) for p in self.run_point[runs]]
            columns[key] = np.repeat(np.asarray(values), n_logs)
        for name in names:
            columns[name] = local_rows(metrics[name])[1][keep].reshape(-1)
        return pd.DataFrame(columns)


def _cell(value: Any) -> Any:
    return str(value) if isinstance(value, list) else value
