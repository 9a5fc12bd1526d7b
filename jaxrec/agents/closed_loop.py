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

import dataclasses
from collections.abc import Callable
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import optax

from jaxrec.agents.marketplace import RerankParams, adjusted_scores, constrained_slate
from jaxrec.envs.platform import EnvParams, EnvState, Observation, PlatformEnv
from jaxrec.errors import ConfigError
from jaxrec.models.adversarial import AdversaryConfig, FeatureTables, FMTrainConfig, model_config
from jaxrec.models.fm import bce_with_logits
from jaxrec.models.fm_training import make_optimizer, train_step
from jaxrec.models.mf import mf_logits
from jaxrec.ops.selection import select_slate

SCORERS = ("mf", "fm", "aafm")
Params = dict[str, Any]


@dataclasses.dataclass(frozen=True)
class LoopConfig:
    """Static settings of the closed loop (hashable; changing one recompiles).

    Attributes:
      scorer: ``mf``, ``fm`` or ``aafm``.
      retrain_every: W, steps between retrains (the first is at step W).
      updates: optax steps per retrain.
      batch_size: logged impressions per update (sampled with replacement).
      learning_rate, l2: Adam step size and L2 weight.
      dim: embedding dimension.
      init_scale: std of the initial embeddings.
      epsilon: exploration probability per draw; explore_positions: draws per user (E).
      ips: weight samples by inverse logged propensity; propensity_floor clips the weights.
    """

    scorer: str = "mf"
    retrain_every: int = 50
    updates: int = 50
    batch_size: int = 1024
    learning_rate: float = 0.02
    l2: float = 1e-4
    dim: int = 16
    init_scale: float = 0.1
    epsilon: float = 0.0
    explore_positions: int = 1
    ips: bool = False
    propensity_floor: float = 0.01

    def __post_init__(self) -> None:
        if self.scorer not in SCORERS:
            raise ConfigError("loop.scorer", f"expected one of {SCORERS}, got {self.scorer!r}")
        for name in ("retrain_every", "updates", "batch_size", "dim", "explore_positions"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"loop.{name}", f"must be an integer >= 1, got {value!r}")
        for name in ("learning_rate", "init_scale", "propensity_floor"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"loop.{name}", f"must be > 0, got {getattr(self, name)}")
        if not self.l2 >= 0:
            raise ConfigError("loop.l2", f"must be >= 0, got {self.l2}")
        if not 0.0 <= self.epsilon <= 1.0:
            raise ConfigError("loop.epsilon", f"must lie in [0, 1], got {self.epsilon}")


@flax.struct.dataclass
class Learner:
    """The learned scorer's part of the carry.

    ``params``: scorer parameters; ``propensity`` f32[L, U, K]: logged propensity of each impression,
    aligned with the env's log ring buffer; ``trained_at`` i32[]: step of the last retrain;
    ``retrains`` i32[]: retrains so far.
    """

    params: Params
    propensity: jax.Array
    trained_at: jax.Array
    retrains: jax.Array


@flax.struct.dataclass
class LoopCarry:
    obs: Observation
    state: EnvState
    key: jax.Array
    learner: Learner


# --------------------------------------------------------------------------------------------------
# Scorers
# --------------------------------------------------------------------------------------------------


def _fm_adversary(config: LoopConfig) -> AdversaryConfig:
    return model_config(config.scorer)


def init_scorer(
    key: jax.Array, n_users: int, n_items: int, n_producers: int, config: LoopConfig
) -> Params:
    """Initial scorer parameters for ``n_users`` pool users, ``n_items`` slots, ``n_producers``.

    MF: ``user`` f32[U, d], ``item`` f32[M, d], ``item_bias`` f32[M]. FM/AAFM: ``{"fm": ...}`` over
    ``U + M + P`` feature rows (fields user, item, producer), plus AAFM's ``omega`` f32[3].
    """
    k_user, k_item, k_fm = jax.random.split(key, 3)
    if config.scorer == "mf":
        return {
            "user": config.init_scale * jax.random.normal(k_user, (n_users, config.dim)),
            "item": config.init_scale * jax.random.normal(k_item, (n_items, config.dim)),
            "item_bias": jnp.zeros(n_items),
        }
    n_features = n_users + n_items + n_producers
    params: Params = {
        "fm": {
            "embedding": config.init_scale * jax.random.normal(k_fm, (n_features, config.dim)),
            "linear": jnp.zeros(config.dim),
            "bias": jnp.zeros(()),
        }
    }
    if _fm_adversary(config).learn_eps:
        params["omega"] = jnp.full((3,), _fm_adversary(config).omega_init, jnp.float32)
    return params


def fm_feature_ids(
    users: jax.Array, items: jax.Array, producers: jax.Array, n_users: int, n_items: int
) -> jax.Array:
    """Rows of the fields (user, item, producer) in the FM table: i32[..., 3]."""
    return jnp.stack([users, n_users + items, n_users + n_items + producers], axis=-1)


def reset_items(params: Params, fresh: jax.Array, n_users: int, config: LoopConfig) -> Params:
    """Zero the item rows of slots whose item is new (``fresh`` bool[M]); MF biases get the mean
    bias of the other items, so a new item starts as an average one."""
    if config.scorer == "mf":
        known = ~fresh
        mean_bias = jnp.where(known, params["item_bias"], 0.0).sum() / jnp.maximum(known.sum(), 1)
        return {
            **params,
            "item": jnp.where(fresh[:, None], 0.0, params["item"]),
            "item_bias": jnp.where(fresh, mean_bias, params["item_bias"]),
        }
    table = params["fm"]["embedding"]
    rows = n_users + jnp.arange(fresh.shape[0])
    table = table.at[rows].set(jnp.where(fresh[:, None], 0.0, table[rows]))
    return {**params, "fm": {**params["fm"], "embedding": table}}


def score_all(
    params: Params,
    users: jax.Array,
    item_producer: jax.Array,
    n_users: int,
    config: LoopConfig,
) -> jax.Array:
    """Scorer logits of every item slot for each user: users i32[B] -> f32[B, M].

    For FM the pairwise term over (user, item, producer) is expanded so that only one [B, d] x
    [d, M] product is needed: ``b + w.(e_u + c_i) + e_u.c_i + e_i.e_p`` with ``c_i = e_i + e_p``.
    """
    if config.scorer == "mf":
        return params["user"][users] @ params["item"].T + params["item_bias"]
    fm = params["fm"]
    n_items = item_producer.shape[0]
    user_rows = fm["embedding"][users]  # [B, d]
    item_rows = fm["embedding"][n_users + jnp.arange(n_items)]  # [M, d]
    producer_rows = fm["embedding"][n_users + n_items + item_producer]  # [M, d]
    combined = item_rows + producer_rows
    per_user = user_rows @ fm["linear"]
    per_item = combined @ fm["linear"] + jnp.sum(item_rows * producer_rows, axis=-1)
    return fm["bias"] + per_user[:, None] + per_item[None, :] + user_rows @ combined.T


def _mf_loss(params: Params, users, items, labels, l2: float) -> jax.Array:
    logits = mf_logits(params, users, items)
    penalty = jnp.sum(params["user"][users] ** 2, -1) + jnp.sum(params["item"][items] ** 2, -1)
    return jnp.mean(bce_with_logits(logits, labels) + l2 * penalty)


def fit_on_log(
    params: Params,
    key: jax.Array,
    log_user: jax.Array,
    log_items: jax.Array,
    log_clicks: jax.Array,
    log_valid: jax.Array,
    propensity: jax.Array,
    item_producer: jax.Array,
    n_users: int,
    config: LoopConfig,
    epoch: jax.Array,
) -> Params:
    """``config.updates`` optax steps from ``params`` on logged impressions (pure, jit-able).

    Args:
      log_user i32[L, U], log_items i32[L, U, K], log_clicks bool[L, U, K], log_valid bool[L]: the
        env's log (``-1`` = none); propensity f32[L, U, K]: logged propensities.
      item_producer: i32[M] current producer of each slot.
      epoch: f32[] retrain count (D-AAFM-style schedules; unused by MF/FM/AAFM).

    Minibatches of ``batch_size`` impressions are drawn with replacement with probability
    proportional to the sample weight (1, or ``1/max(p, floor)`` with ``ips``), an unbiased
    stand-in for the weighted loss. With no logged impression the parameters are returned as they
    are. A fresh Adam state starts each retrain.
    """
    n_items = item_producer.shape[0]
    users = jnp.broadcast_to(log_user[:, :, None], log_items.shape).reshape(-1)
    items = log_items.reshape(-1)
    valid = (items >= 0) & (users >= 0) & jnp.repeat(log_valid, log_items[0].size)
    weight = jnp.where(valid, 1.0, 0.0)
    if config.ips:
        weight = weight / jnp.maximum(propensity.reshape(-1), config.propensity_floor)
    total = weight.sum()
    probability = jnp.where(total > 0, weight / jnp.maximum(total, 1e-12), 1.0 / weight.size)
    draws = jax.random.choice(key, weight.size, (config.updates, config.batch_size), p=probability)
    users, items = jnp.maximum(users, 0), jnp.maximum(items, 0)
    labels = log_clicks.reshape(-1).astype(jnp.float32)
    producers = item_producer[items]

    if config.scorer == "mf":
        optimizer = optax.adam(config.learning_rate)
        loss_grad = jax.grad(_mf_loss)

        def update(carry, batch):
            params, opt_state = carry
            grads = loss_grad(params, users[batch], items[batch], labels[batch], config.l2)
            updates, opt_state = optimizer.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), None

    else:
        adversary = _fm_adversary(config)
        optimizer = make_optimizer(
            FMTrainConfig(dim=config.dim, learning_rate=config.learning_rate, l2=config.l2)
        )
        feature_ids = fm_feature_ids(users, items, producers, n_users, n_items)  # [N, 3]
        # AAFM's feature statistics, counted on the logged impressions: alpha_v = frequency of
        # value v in its field; beta_v (combination variety) ~ number of impressions containing v
        # (each impression is a distinct combination unless an item is re-shown to the same user).
        n_features = params["fm"]["embedding"].shape[0]
        counts = jnp.zeros(n_features).at[feature_ids].add(valid[:, None].astype(jnp.float32))
        alpha = counts / jnp.maximum(valid.sum(), 1)
        field = jnp.concatenate(
            [
                jnp.zeros(n_users, jnp.int32),
                jnp.ones(n_items, jnp.int32),
                jnp.full(n_features - n_users - n_items, 2, jnp.int32),
            ]
        )
        rarity = -jnp.prod(alpha[feature_ids], axis=-1)
        tables = FeatureTables(beta=counts, field=field, rarity=rarity)

        def update(carry, batch):
            params, opt_state = carry
            params, opt_state, _ = train_step(
                params, opt_state, feature_ids[batch], labels[batch], rarity[batch], tables,
                epoch, optimizer, adversary, adversary.adversarial,
            )  # fmt: skip
            return (params, opt_state), None

    (fitted, _), _ = jax.lax.scan(update, (params, optimizer.init(params)), draws)
    return jax.tree.map(lambda new, old: jnp.where(total > 0, new, old), fitted, params)


def retrain(
    learner: Learner, state: EnvState, key: jax.Array, n_users: int, config: LoopConfig
) -> Learner:
    """Reset the rows of new items, then fit the scorer on the env's log (see :func:`fit_on_log`)."""
    fresh = state.item_arrival_step > learner.trained_at
    params = reset_items(learner.params, fresh, n_users, config)
    params = fit_on_log(
        params, key, state.log_user, state.log_items, state.log_clicks, state.log_valid,
        learner.propensity, state.item_producer, n_users, config,
        (learner.retrains + 1).astype(jnp.float32),
    )  # fmt: skip
    return learner.replace(params=params, trained_at=state.step, retrains=learner.retrains + 1)


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
