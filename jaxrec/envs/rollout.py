"""Rollouts: a policy acting in a world for T steps as one ``lax.scan``, with per-step metrics.

Per-step metrics are world-level scalars, so a rollout's memory is flat in the horizon apart from
T scalars per metric; long horizons run as a Python loop over compiled chunks
(:func:`run_chunked`) that carries the state and streams the metrics.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import jax
import jax.numpy as jnp

from jaxrec.envs.environment import Environment
from jaxrec.envs.platform import PlatformEnv
from jaxrec.envs.platform_types import EnvParams, EnvState, Observation
from jaxrec.metrics.exposure import gini, top_share
from jaxrec.ops.chunks import per_length, run_chunks

STEP_METRICS = (
    "reward",
    "cost",
    "clicks",
    "exposure_gini",
    "popularity_gini",
    "head_share",
    "top1_share",
    "active_users",
    "active_producers",
    "alive_items",
    "churned_users",
)


def step_metrics(
    state: EnvState,
    reward: jax.Array,
    cost: jax.Array,
    terminated: jax.Array,
    info: dict[str, jax.Array],
) -> dict[str, jax.Array]:
    """World-level metrics of one step (f32 scalars), computed from the state after the step.

    - reward / cost: mean clicks and mean cost per user served this step;
    - clicks: total clicks of the step;
    - exposure_gini: Gini of recent (decayed, position-weighted) exposure over live items;
    - popularity_gini: Gini of popularity (decayed click counts) over live items;
    - head_share: share of this step's position-weighted exposure that went to head-group items;
    - top1_share: share of recent exposure held by the top 1% of items;
    - active_users, active_producers, alive_items: counts after the step;
    - churned_users: users who left this step.
    """
    served = info["served"]
    n_served = jnp.maximum(served.sum(), 1)
    exposure = info["exposure"]
    total_exposure = exposure.sum()
    head_exposure = jnp.where(info["head_in_slate"], exposure, 0.0).sum()
    recent = jnp.where(state.item_alive, state.item_exposure_recent, 0.0)
    return {
        "reward": jnp.where(served, reward, 0.0).sum() / n_served,
        "cost": jnp.where(served, cost, 0.0).sum() / n_served,
        "clicks": reward.sum(),
        "exposure_gini": gini(recent, where=state.item_alive),
        "popularity_gini": gini(state.item_popularity, where=state.item_alive),
        "head_share": head_exposure / jnp.maximum(total_exposure, 1e-12),
        "top1_share": top_share(recent, 0.01),
        "active_users": state.user_active.sum().astype(jnp.float32),
        "active_producers": state.producer_active.sum().astype(jnp.float32),
        "alive_items": state.item_alive.sum().astype(jnp.float32),
        "churned_users": terminated.sum().astype(jnp.float32),
    }


Carry = tuple  # (obs, state, key), plus the policy's memory for a policy with one


def has_memory(policy: Any) -> bool:
    """Whether ``policy`` keeps a controller state (``init_memory`` / ``act_with_memory``)."""
    return hasattr(policy, "init_memory")


def act_and_remember(
    policy: Any,
    key: jax.Array,
    obs: Observation,
    state: EnvState,
    env_params: EnvParams,
    policy_params: Any,
    memory: tuple,
) -> tuple[jax.Array, tuple]:
    """One slate i32[U, K] from any policy, with its updated memory (``()`` for none)."""
    if has_memory(policy):
        slate, new_memory = policy.act_with_memory(
            key, obs, state, env_params, policy_params, memory[0]
        )
        return slate, (new_memory,)
    return policy.act(key, obs, state, env_params, policy_params), memory


def make_rollout(
    env: Environment,
    policy: Any,
    n_steps: int,
    metrics_fn: Callable[..., dict[str, jax.Array]] = step_metrics,
) -> Callable[[Carry, EnvParams, Any], tuple[Carry, dict[str, jax.Array]]]:
    """Build ``rollout(carry, env_params, policy_params) -> (carry, metrics)``.

    ``carry = (obs, state, key)`` from :func:`init_carry`, with the policy's memory as a fourth
    element when it has one (FairCo's accumulated exposure, frozen labels); ``metrics`` maps each
    name to f32[n_steps]. The function is pure and un-jitted: wrap it in ``jax.jit`` (and
    ``jax.vmap`` over worlds) as needed.
    """

    def rollout(carry: Carry, env_params: EnvParams, policy_params: Any):
        def one_step(carry: Carry, _):
            obs, state, key, *memory = carry
            key, act_key, step_key = jax.random.split(key, 3)
            slate, memory = act_and_remember(
                policy, act_key, obs, state, env_params, policy_params, tuple(memory)
            )
            obs, state, reward, cost, terminated, _, info = env.step(
                step_key, state, slate, env_params
            )
            return (obs, state, key, *memory), metrics_fn(state, reward, cost, terminated, info)

        return jax.lax.scan(one_step, carry, None, length=n_steps)

    return rollout


def init_carry(
    env: PlatformEnv,
    key: jax.Array,
    env_params: EnvParams,
    policy: Any = None,
    policy_params: Any = None,
) -> Carry:
    """Reset a world and pair it with the key its rollout will consume; a ``policy`` with a
    memory starts serving here, so its memory (e.g. frozen labels) is taken from this state."""
    reset_key, run_key = jax.random.split(key)
    obs, state = env.reset(reset_key, env_params)
    if policy is not None and has_memory(policy):
        return obs, state, run_key, policy.init_memory(obs, state, env_params, policy_params)
    return obs, state, run_key


def run_chunked(
    env: PlatformEnv,
    policy: Any,
    keys: jax.Array,
    env_params: EnvParams,
    policy_params: Any,
    n_steps: int,
    chunk: int = 100,
) -> Iterator[tuple[int, dict[str, jax.Array], Carry]]:
    """Run a batch of worlds for ``n_steps`` as compiled chunks, yielding after each chunk.

    ``keys`` is a batch of W keys (one world each); ``env_params`` and ``policy_params`` are shared
    by all worlds. Yields ``(steps_done, metrics, carry)`` where ``metrics`` maps names to
    f32[W, steps_in_chunk]. Only the final chunk may be shorter, so at most two programs compile.
    """
    # params are arguments, not closed-over constants, so XLA does not constant-fold the world
    init = jax.jit(
        jax.vmap(lambda k, p, pp: init_carry(env, k, p, policy, pp), in_axes=(0, None, None))
    )
    program = per_length(
        lambda length: jax.jit(
            jax.vmap(make_rollout(env, policy, length), in_axes=(0, None, None)),
            donate_argnums=(0,),
        )
    )

    def advance(carry: Carry, length: int, done: int):
        return program(length)(carry, env_params, policy_params)

    yield from run_chunks(advance, init(keys, env_params, policy_params), n_steps, chunk)
