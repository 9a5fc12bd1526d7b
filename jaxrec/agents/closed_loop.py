"""The closed loop: a learned scorer retrained on the logs its own slates produced, inside the rollout.

On a real platform the ranking model is retrained on interactions that its own rankings caused;
items it never shows earn no clicks and look worse at the next retrain, which is where popularity
bias compounds (Chaney et al. 2018; Mansoury et al. 2020). This module runs that loop as one
compiled program:

- the scorer's parameters live in the rollout carry (:class:`Learner`), next to the env state;
- every ``retrain_every`` steps the scorer is retrained on the env's interaction log (the last
  ``log_steps`` steps: every logged impression is a sample, clicked = 1, not clicked = 0) with a
  fixed number of optax steps, under ``lax.cond`` whose predicate is the (unbatched) step index, so
  a batch of worlds skips the update in between and nothing returns to the host;
- scorers: logistic MF (``mf``, :mod:`jaxrec.models.mf`), FM on the fields user, item and producer
  (``fm``, :mod:`jaxrec.models.fm`) and AAFM (``aafm``: the adversarial training step of
  :mod:`jaxrec.models.fm_training` with feature statistics counted on the log);
- exploration: with probability ``epsilon`` each of ``explore_positions`` draws per user puts a
  uniformly random allowed item into the slate (bottom positions), a small exposure budget; each
  impression's approximate propensity under this epsilon mixture (an explored item ``eps E / n``,
  a scorer item ``1 - eps``) is logged in the carry, and ``ips=True`` re-weights training samples
  by ``1 / max(p, propensity_floor)``;
- an optional marketplace re-ranking stage (:mod:`jaxrec.agents.marketplace`) turns scores into
  slates under operator constraints; explored items pass through it like any other candidate.

Item slots are reused when new items arrive; a slot whose item arrived after the last retrain is
scored with a reset (zero) item embedding and the mean item bias until the next retrain resets and
trains it. Before the first retrain (``retrain_every`` steps) the scorer is its random
initialisation, so the loop starts from near-uniform slates.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp

from jaxrec.agents.loop_scorer import (
    Learner,
    LoopConfig,
    init_scorer,
    reset_items,
    retrain,
    score_all,
)
from jaxrec.agents.marketplace import RerankParams, adjusted_scores, constrained_slate
from jaxrec.envs.platform import EnvParams, EnvState, Observation, PlatformEnv
from jaxrec.errors import ConfigError
from jaxrec.ops.selection import select_slate


@flax.struct.dataclass
class LoopCarry:
    obs: Observation
    state: EnvState
    key: jax.Array
    learner: Learner


# --------------------------------------------------------------------------------------------------
# Acting
# --------------------------------------------------------------------------------------------------


def order_explored_last(slate: jax.Array, explored: jax.Array) -> jax.Array:
    """Keep the slate's order but move explored entries, then empty (-1) ones, to the bottom."""
    k = slate.shape[1]
    position = jnp.arange(k)[None, :]
    rank_key = -(position + k * explored + 2 * k * (slate < 0))
    order = jax.lax.top_k(rank_key, k)[1]
    return jnp.take_along_axis(slate, order, axis=1)


def act(
    key: jax.Array,
    obs: Observation,
    state: EnvState,
    learner: Learner,
    env: PlatformEnv,
    config: LoopConfig,
    n_users: int,
    rerank_params: RerankParams | None,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """One step's slates: ``(slate i32[U, K], propensity f32[U, K], gave_way bool[U, 3])``."""
    n_producers = state.producer_active.shape[0]
    fresh = state.item_arrival_step > learner.trained_at
    params = reset_items(learner.params, fresh, n_users, config)
    scores = score_all(params, obs.user_id, state.item_producer, n_users, config)
    mask = env.action_mask(obs)
    explore = jnp.zeros_like(mask)
    if config.epsilon > 0:
        k_pick, k_use = jax.random.split(key)
        noise = jax.random.uniform(k_pick, mask.shape)
        picks = jax.lax.top_k(jnp.where(mask, noise, -1.0), config.explore_positions)[1]
        use = jax.random.uniform(k_use, picks.shape) < config.epsilon
        rows = jnp.arange(mask.shape[0])[:, None]
        explore = explore.at[rows, picks].set(use) & mask
    # explored items outrank every scored item; constraints and floors still apply to them
    if rerank_params is None:
        ranking = jnp.where(explore, jnp.inf, scores)
        slate = select_slate(ranking, mask, env.slate_size)
        gave_way = jnp.zeros((mask.shape[0], 3), bool)
    else:
        ranking = adjusted_scores(
            scores, state.item_exposure_recent, state.item_producer, state.item_quality,
            state.item_alive, n_producers, rerank_params,
        )  # fmt: skip
        ranking = jnp.where(explore, jnp.inf, ranking)
        is_new = (state.step - state.item_arrival_step <= rerank_params.new_item_age) & (
            state.item_arrival_step > 0
        )
        slate, gave_way = constrained_slate(
            ranking, scores, mask, state.item_producer, state.item_quality, state.item_is_head,
            is_new & state.item_alive, n_producers, env.slate_size, rerank_params,
        )  # fmt: skip
    rows = jnp.arange(mask.shape[0])[:, None]
    explored = explore[rows, jnp.maximum(slate, 0)] & (slate >= 0)
    slate = order_explored_last(slate, explored)
    explored = explore[rows, jnp.maximum(slate, 0)] & (slate >= 0)
    n_allowed = jnp.maximum(mask.sum(axis=1, keepdims=True), 1)
    p_explore = jnp.minimum(config.epsilon * config.explore_positions / n_allowed, 1.0)
    propensity = jnp.where(explored, p_explore, 1.0 - config.epsilon)
    return slate, propensity.astype(jnp.float32), gave_way


# --------------------------------------------------------------------------------------------------
# The rollout
# --------------------------------------------------------------------------------------------------


def init_loop_carry(
    env: PlatformEnv, key: jax.Array, env_params: EnvParams, config: LoopConfig
) -> LoopCarry:
    """Reset a world and initialise its scorer (world i's key alone fixes both)."""
    if env.log_steps < 1:
        raise ConfigError("env.log_steps", "the closed loop trains on the log; set log_steps >= 1")
    reset_key, scorer_key, run_key = jax.random.split(key, 3)
    obs, state = env.reset(reset_key, env_params)
    world = env_params.world
    params = init_scorer(scorer_key, world.n_pool_users, world.n_items, world.n_producers, config)
    learner = Learner(
        params=params,
        propensity=jnp.ones((env.log_steps, env.n_users, env.slate_size), jnp.float32),
        trained_at=jnp.zeros((), jnp.int32),
        retrains=jnp.zeros((), jnp.int32),
    )
    return LoopCarry(obs, state, run_key, learner)


def make_closed_loop(
    env: PlatformEnv,
    config: LoopConfig,
    n_steps: int,
    metrics_fn: Callable[..., dict[str, jax.Array]],
    rerank: bool = False,
) -> Callable[..., tuple[LoopCarry, dict[str, jax.Array]]]:
    """Build ``rollout(carry, env_params, rerank_params, start_step) -> (carry, metrics)``.

    ``start_step`` (i32[], the step the carry is at; unbatched under ``vmap``) drives the retrain
    schedule, so a chunked run passes the steps done so far. ``metrics`` maps each name to
    f32[n_steps], plus ``retrained`` (1 on steps that began with a retrain) and ``gave_way_*``
    (share of served users whose slate broke that constraint). ``rerank_params`` is ignored when
    ``rerank`` is False (pass None). Pure and un-jitted.
    """
    from jaxrec.agents.marketplace import YIELDING_CONSTRAINTS

    def rollout(carry: LoopCarry, env_params: EnvParams, rerank_params, start_step):
        n_users = env_params.world.n_pool_users

        def one_step(carry: LoopCarry, step: jax.Array):
            key, k_train, k_act, k_step = jax.random.split(carry.key, 4)
            due = (step > 0) & (step % config.retrain_every == 0)
            learner = jax.lax.cond(
                due,
                lambda learner: retrain(learner, carry.state, k_train, n_users, config),
                lambda learner: learner,
                carry.learner,
            )
            slate, propensity, gave_way = act(
                k_act, carry.obs, carry.state, learner, env, config, n_users,
                rerank_params if rerank else None,
            )  # fmt: skip
            slot = carry.state.step % env.log_steps
            learner = learner.replace(propensity=learner.propensity.at[slot].set(propensity))
            obs, state, reward, cost, terminated, _, info = env.step(
                k_step, carry.state, slate, env_params
            )
            metrics = metrics_fn(state, reward, cost, terminated, info)
            metrics["retrained"] = due.astype(jnp.float32)
            served = info["served"]
            for index, name in enumerate(YIELDING_CONSTRAINTS):
                broke = (gave_way[:, index] & served).sum()
                metrics[f"gave_way_{name}"] = broke / jnp.maximum(served.sum(), 1)
            return LoopCarry(obs, state, key, learner), metrics

        steps = start_step + jnp.arange(n_steps, dtype=jnp.int32)
        return jax.lax.scan(one_step, carry, steps)

    return rollout


def run_closed_loop(
    env: PlatformEnv,
    env_params: EnvParams,
    config: LoopConfig,
    rerank_params: RerankParams | None = None,
    n_worlds: int = 1,
    n_steps: int = 500,
    seed: int = 0,
    chunk: int = 100,
    progress: bool = False,
    desc: str = "closed loop",
) -> tuple[Any, LoopCarry]:
    """Run ``n_worlds`` closed-loop worlds for ``n_steps`` as compiled chunks; health per step.

    Returns ``(frame, carry)``: ``frame`` (pandas) has one row per (world, step) with the columns
    of :data:`jaxrec.metrics.health.HEALTH_METRICS`, ``retrained`` and ``gave_way_*``; ``carry`` is
    the final batched carry. At most two programs compile (the chunk and a shorter last one).
    """
    from tqdm.auto import tqdm

    from jaxrec.metrics.health import make_health_metrics, user_segments
    from jaxrec.ops.chunks import per_length, run_chunks
    from jaxrec.ops.tables import concat_chunks, tidy_frame

    if rerank_params is not None and env.slate_size < int(rerank_params.min_new_slots):
        raise ConfigError("slate.min_new_slots", f"exceeds the slate size {env.slate_size}")
    metrics_fn = make_health_metrics(env, user_segments(env_params.world))
    keys = jax.random.split(jax.random.key(seed), n_worlds)
    # params are arguments, not closed-over constants, so XLA does not constant-fold the world
    init = jax.jit(jax.vmap(lambda k, p: init_loop_carry(env, k, p, config), in_axes=(0, None)))
    program = per_length(
        lambda length: jax.jit(
            jax.vmap(
                make_closed_loop(env, config, length, metrics_fn, rerank=rerank_params is not None),
                in_axes=(0, None, None, None),
            ),
            donate_argnums=(0,),
        )
    )

    def advance(carry: LoopCarry, length: int, done: int):
        return program(length)(carry, env_params, rerank_params, jnp.int32(done))

    chunks = []
    with tqdm(total=n_steps, desc=desc, unit="step", disable=not progress) as bar:
        run = run_chunks(advance, init(keys, env_params), n_steps, chunk)
        for done, metrics, carry in run:  # noqa: B007 (the last carry is returned)
            chunks.append(metrics)
            bar.update(done - bar.n)
    return tidy_frame(concat_chunks(chunks), names=sorted(chunks[0])), carry
