"""Marketplace health per step, computed inside the rollout from the platform state and its log.

:func:`make_health_metrics` builds a ``metrics_fn`` for :func:`jaxrec.envs.make_rollout` (or the
closed loop of :mod:`jaxrec.agents.closed_loop`) returning the world-level scalars of
:data:`HEALTH_METRICS` each step. It reads the step's slates from the interaction log, so the env
needs ``log_steps >= 1``.

Definitions (exposure is position-weighted, ``v_k`` = the env's examination weights):

- ``exposure_head/torso/tail/cold``: shares of this step's exposure by popularity bucket among live
  items (head = top 1% by popularity, torso = next 19%, tail = the rest, cold = never shown before
  this step), as :func:`jaxrec.metrics.bucket_shares`;
- ``top1_share``, ``item_gini``: concentration of recent (decayed) item exposure over all slots;
- ``producer_gini``, ``producer_hhi`` (normalised), ``producer_entropy`` (normalised): of recent
  exposure summed per producer over all producer slots (a producer that left counts as zero);
- ``head_slate_share``: head-group items (the platform's label when served) per item shown;
- ``longtail_exposure`` / ``longtail_clicks``: shares of this step's exposure / clicks on non-head
  items; ``longtail_coverage``: share of live non-head items ever shown;
- ``new_item_wait``: mean wait to first impression of the live items that arrived within
  ``new_item_window`` steps, censored at the current step for those not shown yet (0 if none);
  ``new_items_unseen``: the share of those items not shown yet;
- ``active_producers``, ``active_users``, ``alive_items``: counts after the step;
- ``clicks``: total clicks; ``clicks_per_user``: per served user; ``clicks_mainstream`` /
  ``clicks_niche``: clicks per served user of each segment (:func:`user_segments`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from jaxrec.errors import ConfigError
from jaxrec.metrics._safe import divide_or
from jaxrec.metrics.exposure import bucket_shares, entropy, gini, hhi, long_tail_coverage, top_share

HEALTH_METRICS = (
    "clicks",
    "clicks_per_user",
    "clicks_mainstream",
    "clicks_niche",
    "exposure_head",
    "exposure_torso",
    "exposure_tail",
    "exposure_cold",
    "top1_share",
    "item_gini",
    "producer_gini",
    "producer_hhi",
    "producer_entropy",
    "head_slate_share",
    "empty_positions",
    "longtail_exposure",
    "longtail_clicks",
    "longtail_coverage",
    "new_item_wait",
    "new_items_unseen",
    "active_producers",
    "active_users",
    "alive_items",
)


def user_segments(world: Any) -> jax.Array:
    """Mainstream users of the pool of a :class:`jaxrec.data.World`: bool[P_users].

    A user is mainstream when the cosine between their taste and the popularity-weighted mean item
    vector is at least the pool's median; the others are niche.
    """
    weights = jnp.where(world.item_alive, world.item_popularity, 0.0)
    centre = weights @ world.item_factors / jnp.maximum(weights.sum(), 1e-12)
    norms = jnp.linalg.norm(world.user_factors, axis=1) * jnp.linalg.norm(centre)
    cosine = world.user_factors @ centre / jnp.maximum(norms, 1e-12)
    return cosine >= jnp.median(cosine)


def producer_recent_exposure(state: Any, n_producers: int) -> jax.Array:
    """Recent (decayed) exposure of live items summed per producer: f32[P], from a
    :class:`jaxrec.envs.EnvState`."""
    live = jnp.where(state.item_alive, state.item_exposure_recent, 0.0)
    return jnp.zeros(n_producers).at[state.item_producer].add(live)


def make_health_metrics(
    env: Any, mainstream: jax.Array, new_item_window: int = 50
) -> Callable[..., dict[str, jax.Array]]:
    """A ``metrics_fn(state, reward, cost, terminated, info)`` returning :data:`HEALTH_METRICS`.

    Args:
      env: the platform (:class:`jaxrec.envs.PlatformEnv`; typed loosely because metrics sit below
        envs in the layers); must keep a log (``log_steps >= 1``) to read the step's slates.
      mainstream: bool[P_users] segment of each pool user (:func:`user_segments`).
      new_item_window: items that arrived within this many steps count as new (static).
    """
    if env.log_steps < 1:
        raise ConfigError("env.log_steps", "health metrics read the step's slates from the log")

    def metrics(state: Any, reward, cost, terminated, info) -> dict[str, jax.Array]:
        n_items = state.item_alive.shape[0]
        n_producers = state.producer_active.shape[0]
        slot = (state.step - 1) % env.log_steps
        items, users = state.log_items[slot], state.log_user[slot]  # [U, K], [U]
        target = jnp.where(items >= 0, items, n_items).reshape(-1)  # n_items = dropped
        exposure = info["exposure"]
        clicks = info["clicks"].astype(jnp.float32)
        step_exposure = jnp.zeros(n_items).at[target].add(exposure.reshape(-1), mode="drop")
        step_clicks = jnp.zeros(n_items).at[target].add(clicks.reshape(-1), mode="drop")
        shown, head_in_slate = info["shown"], info["head_in_slate"]  # head label when served

        previous_step = state.step - 1
        first = state.item_first_impression_step
        cold = (first < 0) | (first >= previous_step)
        buckets = bucket_shares(step_exposure, state.item_popularity, state.item_alive, cold=cold)
        recent = jnp.where(state.item_alive, state.item_exposure_recent, 0.0)
        producer = producer_recent_exposure(state, n_producers)
        total_exposure, total_clicks = step_exposure.sum(), step_clicks.sum()

        age = state.step - state.item_arrival_step
        new = state.item_alive & (state.item_arrival_step > 0) & (age <= new_item_window)
        seen_at = jnp.where(first >= 0, first, state.step)
        n_new = new.sum()
        wait = divide_or(jnp.where(new, seen_at - state.item_arrival_step, 0).sum(), n_new, 0.0)
        unseen = divide_or((new & (first < 0)).sum(), n_new, 0.0)

        served = users >= 0
        user_clicks = clicks.sum(axis=1)
        is_mainstream = served & mainstream[jnp.maximum(users, 0)]
        is_niche = served & ~is_mainstream

        def per_user(group):
            return divide_or(jnp.where(group, user_clicks, 0.0).sum(), group.sum(), 0.0)

        return {
            "clicks": total_clicks,
            "clicks_per_user": per_user(served),
            "clicks_mainstream": per_user(is_mainstream),
            "clicks_niche": per_user(is_niche),
            "exposure_head": buckets["head"],
            "exposure_torso": buckets["torso"],
            "exposure_tail": buckets["tail"],
            "exposure_cold": buckets["cold"],
            "top1_share": top_share(recent, 0.01),
            "item_gini": gini(recent),
            "producer_gini": gini(producer),
            "producer_hhi": hhi(producer, normalized=True),
            "producer_entropy": entropy(producer, normalized=True),
            "head_slate_share": divide_or(head_in_slate.sum(), shown.sum(), 0.0),
            # slate positions of served users left empty (a policy's floors passed no item)
            "empty_positions": divide_or(
                ((items < 0) & served[:, None]).sum(), served.sum() * items.shape[1], 0.0
            ).astype(jnp.float32),
            "longtail_exposure": divide_or(
                jnp.where(head_in_slate, 0.0, exposure).sum(), total_exposure, 0.0
            ),
            "longtail_clicks": divide_or(
                jnp.where(head_in_slate, 0.0, clicks).sum(), total_clicks, 0.0
            ),
            "longtail_coverage": long_tail_coverage(
                state.item_exposure, state.item_is_head, state.item_alive
            ),
            "new_item_wait": wait.astype(jnp.float32),
            "new_items_unseen": unseen.astype(jnp.float32),
            "active_producers": state.producer_active.sum().astype(jnp.float32),
            "active_users": state.user_active.sum().astype(jnp.float32),
            "alive_items": state.item_alive.sum().astype(jnp.float32),
        }

    return metrics
