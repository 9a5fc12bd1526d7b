"""Top-K ranking metrics computed from a hit pattern.

Every metric takes ``hits: bool[..., K]``, whether the item at each position (1-based rank k) is
relevant, and, where needed, ``n_relevant[...]``, the number of relevant items the user has. The
same functions therefore score a static top-K list and an FCPO-style episode, where position k is
time step k and one item is recommended per step (count ``n_relevant`` before the episode starts:
counting it afterwards, when hits have been consumed, inflates recall). Reductions are over the last
axis; average over users with ``jnp.mean`` afterwards. ``k`` (static) truncates to the first k
positions; ``None`` means all K.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxrec.errors import ConfigError
from jaxrec.metrics._safe import divide_or
from jaxrec.metrics.exposure import position_weights


def _first_k(hits: jax.Array, k: int | None) -> tuple[jax.Array, int]:
    hits = jnp.asarray(hits, jnp.float32)
    n_positions = hits.shape[-1]
    if k is None:
        return hits, n_positions
    if not 1 <= k <= n_positions:
        raise ConfigError("k", f"must lie in [1, {n_positions}] (the list length), got {k}")
    return hits[..., :k], k


def hits_from_ranking(ranked_items: jax.Array, relevant_mask: jax.Array) -> jax.Array:
    """Whether each recommended item is relevant.

    Args:
      ranked_items: i32[..., K] recommended item ids, best first; ids < 0 are padding (never hits).
      relevant_mask: bool[..., M] relevance of each of the M items for the same user(s); its leading
        axes broadcast against those of ``ranked_items``.

    Returns:
      bool[..., K] hits.
    """
    ranked_items = jnp.asarray(ranked_items, jnp.int32)
    relevant_mask = jnp.asarray(relevant_mask, bool)
    batch_shape = jnp.broadcast_shapes(ranked_items.shape[:-1], relevant_mask.shape[:-1])
    ranked_items = jnp.broadcast_to(ranked_items, (*batch_shape, ranked_items.shape[-1]))
    relevant_mask = jnp.broadcast_to(relevant_mask, (*batch_shape, relevant_mask.shape[-1]))
    hit = jnp.take_along_axis(relevant_mask, jnp.maximum(ranked_items, 0), axis=-1)
    return hit & (ranked_items >= 0)


def precision_at_k(hits: jax.Array, k: int | None = None) -> jax.Array:
    """Precision@k = (number of hits in the first k positions) / k.

    Args:
      hits: bool[..., K] hit pattern.
      k: static cut-off, 1 <= k <= K (default K).

    Returns:
      f32[...] precision in [0, 1].
    """
    hits, k = _first_k(hits, k)
    return jnp.sum(hits, axis=-1) / k


def recall_at_k(hits: jax.Array, n_relevant: jax.Array, k: int | None = None) -> jax.Array:
    """Recall@k = (number of hits in the first k positions) / n_relevant.

    Args:
      hits: bool[..., K] hit pattern.
      n_relevant: [...] number of relevant items per user.
      k: static cut-off, 1 <= k <= K (default K).

    Returns:
      f32[...] recall in [0, 1]; 0 for a user with no relevant item.
    """
    hits, _ = _first_k(hits, k)
    return divide_or(jnp.sum(hits, axis=-1), jnp.asarray(n_relevant, jnp.float32), 0.0)


def f1(precision: jax.Array, recall: jax.Array) -> jax.Array:
    """Harmonic mean F1 = 2 P R / (P + R), elementwise; 0 when P + R = 0.

    Args:
      precision: f32[...] precision values.
      recall: f32[...] recall values (same or broadcastable shape).

    Returns:
      f32[...] F1 in [0, 1].
    """
    precision = jnp.asarray(precision, jnp.float32)
    recall = jnp.asarray(recall, jnp.float32)
    return divide_or(2.0 * precision * recall, precision + recall, 0.0)


def ndcg_at_k(hits: jax.Array, n_relevant: jax.Array, k: int | None = None) -> jax.Array:
    """Normalised discounted cumulative gain with binary gains (Järvelin & Kekäläinen 2002).

        DCG@k  = sum_{r=1..k} hit_r / log2(r + 1)
        IDCG@k = sum_{r=1..min(n_relevant, k)} 1 / log2(r + 1)
        NDCG@k = DCG@k / IDCG@k

    Args:
      hits: bool[..., K] hit pattern.
      n_relevant: [...] number of relevant items per user.
      k: static cut-off, 1 <= k <= K (default K).

    Returns:
      f32[...] NDCG in [0, 1] (1 for a perfect list); 0 for a user with no relevant item.
    """
    hits, k = _first_k(hits, k)
    discount = position_weights(k, "log")
    dcg = jnp.sum(hits * discount, axis=-1)
    # ideal_dcg[j] = DCG of a list whose first j positions are all hits.
    ideal_dcg = jnp.concatenate([jnp.zeros(1, jnp.float32), jnp.cumsum(discount)])
    n_ideal = jnp.clip(jnp.asarray(n_relevant, jnp.int32), 0, k)
    return divide_or(dcg, ideal_dcg[n_ideal], 0.0)


def hit_rate_at_k(hits: jax.Array, k: int | None = None) -> jax.Array:
    """HitRate@k: 1 if any of the first k positions is a hit, else 0.

    Args:
      hits: bool[..., K] hit pattern.
      k: static cut-off, 1 <= k <= K (default K).

    Returns:
      f32[...] in {0, 1}; its mean over users is the hit rate.
    """
    hits, _ = _first_k(hits, k)
    return jnp.max(hits, axis=-1)


def popularity_rate(
    recommended_is_head: jax.Array,
    mask: jax.Array | None = None,
    axis: int | tuple[int, ...] = -1,
) -> jax.Array:
    """Share of recommended items that belong to the popular (head) group (FCPO's PR metric).

    Args:
      recommended_is_head: bool[..., K] whether each recommended item is in the head group
        (e.g. ``is_head[ranked_items]``).
      mask: optional bool, same shape, marking valid recommendations (e.g. steps before an episode
        ended); default all valid.
      axis: axis or axes to reduce (e.g. ``(-2, -1)`` for [..., T, K] slates over an episode).

    Returns:
      f32[...] share in [0, 1]; 0 when nothing valid was recommended.
    """
    is_head = jnp.asarray(recommended_is_head, jnp.float32)
    valid = jnp.ones_like(is_head) if mask is None else jnp.asarray(mask, jnp.float32)
    return divide_or(jnp.sum(is_head * valid, axis=axis), jnp.sum(valid, axis=axis), 0.0)
