"""The closed loop's learned scorer (:mod:`jaxrec.agents.closed_loop`): its settings, its part of the
rollout carry, scoring every item slot, and retraining on the env's interaction log.

Scorers: logistic MF (``mf``), FM on the fields user, item and producer (``fm``) and AAFM (``aafm``,
the adversarial step of :mod:`jaxrec.models.fm_training` with feature statistics counted on the
log). A retrain resets the rows of item slots whose item arrived since the last one, then takes
``updates`` optax steps on minibatches of logged impressions (IPS-weighted with ``ips``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import optax

from jaxrec.envs.platform import EnvState
from jaxrec.errors import ConfigError
from jaxrec.models.adversarial import AdversaryConfig, FeatureTables, FMTrainConfig, model_config
from jaxrec.models.fm import bce_with_logits
from jaxrec.models.fm_training import make_optimizer, train_step
from jaxrec.models.mf import mf_logits

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
