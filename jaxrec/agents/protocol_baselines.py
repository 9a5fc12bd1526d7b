"""Static baselines on the FCPO protocol (docs/algorithms.md §1): random, most-popular, MF-greedy
(relevance) and the static group-exposure re-ranker, served through the same
:class:`jaxrec.envs.fcpo.FCPOEnv` test rollout as the learned agents, so every method is scored by
the same hits and :func:`jaxrec.agents.train.protocol_metrics`.

A static baseline ignores the episode's state, so its whole test episode is one ranked list of
``T`` distinct items per user, served one per step (position k = step k). The lists reuse the
platform baselines' selection: :func:`jaxrec.ops.selection.select_slate` for the plain scorers
and :func:`jaxrec.agents.fairness.quota_slate` (the platform re-rankers' quota) for the re-ranker, whose head share over the episode is its ``head_ratio``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxrec.agents.fairness import quota_slate
from jaxrec.envs.fcpo import FCPOEnv, FCPOParams
from jaxrec.errors import ConfigError
from jaxrec.ops.selection import select_slate

BASELINES = ("random", "most_popular", "mf_greedy", "static_rerank")


def rerank_ranking(
    scores: jax.Array,
    is_head: jax.Array,
    head_ratio: float | jax.Array,
    length: int,
    mask: jax.Array | None = None,
) -> jax.Array:
    """Static group-exposure re-ranking of ``scores`` f32[U, I] into ``length`` items per user:
    the best ``round(head_ratio * length)`` allowed head items and the best allowed long-tail
    items for the rest, ordered by score; i32[U, length]. ``head_ratio`` may be traced (``vmap``
    sweeps it); ``mask`` bool[U, I] (default: everything allowed)."""
    mask = jnp.ones(scores.shape, bool) if mask is None else mask
    return quota_slate(scores, mask, is_head, jnp.asarray(head_ratio, jnp.float32), length)


def baseline_ranking(
    name: str,
    key: jax.Array,
    relevance: jax.Array,
    train_counts: jax.Array,
    is_head: jax.Array,
    length: int,
    head_ratio: float | jax.Array = 0.2,
    mask: jax.Array | None = None,
) -> jax.Array:
    """The test episode of a static baseline: i32[U, length] distinct items per user, best first.

    Args:
      name: one of :data:`BASELINES`.
      key: draws the random baseline's scores.
      relevance: f32[U, I] MF scores (``mf_greedy`` ranks by them, ``static_rerank`` re-ranks them).
      train_counts: f32[I] training interactions per item (``most_popular``).
      is_head: bool[I] popular group G0.
      length: test episode length ``T`` (static).
      head_ratio: the re-ranker's share of head items.
      mask: bool[U, I] items allowed in the list (default: all; the protocol passes
        ``~params.blocked``).
    """
    if name not in BASELINES:
        raise ConfigError("baseline", f"unknown baseline {name!r}; expected one of {BASELINES}")
    mask = jnp.ones(relevance.shape, bool) if mask is None else mask
    if name == "random":
        return select_slate(jax.random.uniform(key, relevance.shape), mask, length)
    if name == "most_popular":
        scores = jnp.broadcast_to(jnp.asarray(train_counts, jnp.float32), relevance.shape)
        return select_slate(scores, mask, length)
    if name == "mf_greedy":
        return select_slate(relevance, mask, length)
    return rerank_ranking(relevance, is_head, head_ratio, length, mask)


def serve_ranking(
    ranking: jax.Array, env: FCPOEnv, params: FCPOParams
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Serve ``ranking[:, t]`` at step t of one ``env`` episode (``T = env.episode_len`` columns).

    Returns ``(items i32[U, T], hits bool[U, T], n_relevant i32[U])``, as
    :func:`jaxrec.agents.train.evaluate_policy` does for a policy.
    """
    _, state = env.reset(jax.random.key(0), params)

    def step(state, items):
        _, state, _, _, _, _, info = env.step(jax.random.key(0), state, items, params)
        return state, info["hit"]

    _, hits = jax.lax.scan(step, state, ranking[:, : env.episode_len].T)
    return ranking[:, : env.episode_len], hits.T, state.n_relevant
