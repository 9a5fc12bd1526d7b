"""Accuracy of scores and probabilities against binary labels: ROC AUC and log loss.

Both are pure ``jnp`` functions that trace under ``jit`` and ``vmap``. Optional ``weights`` double as
masks (weight 0 drops a sample), which lets a caller compute per-bucket AUCs of one fixed-size batch
with a ``vmap`` over bucket masks instead of ragged slicing.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxrec.metrics._safe import divide_or


def _sample_weights(labels: jax.Array, weights: jax.Array | None) -> jax.Array:
    if weights is None:
        return jnp.ones(jnp.shape(labels), jnp.float32)
    return jnp.broadcast_to(jnp.asarray(weights, jnp.float32), jnp.shape(labels))


def auc_ranks(scores: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Sort once, weigh many times: ``(order, below, up_to)`` of ``scores`` f32[n], each i32[n].

    ``order`` sorts the scores ascending; ``below[i]`` / ``up_to[i]`` count the scores strictly below
    / at most ``scores[i]``. :func:`auc_from_ranks` turns them into an AUC for any labels-and-weights,
    so resampling (bootstrap weights) or bucket masks never re-sort.
    """
    order = jnp.argsort(scores)
    sorted_scores = scores[order]
    below = jnp.searchsorted(sorted_scores, scores, side="left")
    up_to = jnp.searchsorted(sorted_scores, scores, side="right")
    return order, below, up_to


def auc_from_ranks(
    positive: jax.Array, weights: jax.Array, ranks: tuple[jax.Array, jax.Array, jax.Array]
) -> jax.Array:
    """Weighted AUC (ties one half) of one score vector from its :func:`auc_ranks`; f32[]."""
    order, below, up_to = ranks
    pos_w = jnp.where(positive, weights, 0.0)
    neg_w = jnp.where(positive, 0.0, weights)
    # cum_neg[j] = total negative weight among the j lowest scores.
    cum_neg = jnp.concatenate([jnp.zeros(1, jnp.float32), jnp.cumsum(neg_w[order])])
    neg_below = cum_neg[below]
    neg_tied = cum_neg[up_to] - neg_below
    correct = jnp.sum(pos_w * (neg_below + 0.5 * neg_tied))
    n_pairs = jnp.sum(pos_w) * jnp.sum(neg_w)
    return divide_or(correct, n_pairs, 0.5)


def _auc_1d(positive: jax.Array, scores: jax.Array, weights: jax.Array) -> jax.Array:
    return auc_from_ranks(positive, weights, auc_ranks(scores))


def auc(labels: jax.Array, scores: jax.Array, weights: jax.Array | None = None) -> jax.Array:
    """Area under the ROC curve, ties counted one half.

    AUC is the probability that a random positive scores above a random negative
    (Hanley & McNeil 1982):

        AUC = sum_{i pos, j neg} w_i w_j ([s_i > s_j] + 0.5 [s_i = s_j]) / (sum_pos w_i * sum_neg w_j)

    computed from ranks in O(n log n) (one sort plus two binary searches), not from the n^2 pairs.

    Args:
      labels: [..., n] binary labels (bool or 0/1); a sample is positive when ``labels > 0.5``.
      scores: [..., n] real scores, higher meaning "more likely positive".
      weights: optional [..., n] (or broadcastable) non-negative sample weights; weight 0 drops a
        sample, so a bool mask works.

    Returns:
      f32[...] AUC over the last axis. When the (weighted) positives or negatives are absent the AUC
      is undefined; it is returned as 0.5 (chance level), never NaN, so metric streams stay finite.
    """
    scores = jnp.asarray(scores, jnp.float32)
    positive = jnp.asarray(labels) > 0.5
    weights = _sample_weights(positive, weights)
    batch_shape = scores.shape[:-1]
    n = scores.shape[-1]
    flat = jax.vmap(_auc_1d)(positive.reshape(-1, n), scores.reshape(-1, n), weights.reshape(-1, n))
    return flat.reshape(batch_shape)


def log_loss(
    labels: jax.Array,
    probs: jax.Array,
    eps: float = 1e-7,
    weights: jax.Array | None = None,
) -> jax.Array:
    """Mean binary cross-entropy of predicted probabilities.

        L = sum_i w_i * -(y_i log p_i + (1 - y_i) log(1 - p_i)) / sum_i w_i,   p_i clipped to [eps, 1 - eps]

    Args:
      labels: [..., n] targets in [0, 1] (soft labels allowed).
      probs: [..., n] predicted probabilities of the positive class.
      eps: clipping that keeps the logarithms finite.
      weights: optional [..., n] (or broadcastable) non-negative sample weights; weight 0 drops a
        sample.

    Returns:
      f32[...] weighted mean over the last axis; 0 when every weight is 0.
    """
    labels = jnp.asarray(labels, jnp.float32)
    probs = jnp.asarray(probs, jnp.float32)
    weights = _sample_weights(labels, weights)
    # Clip p and 1 - p separately: 1 - eps rounds in float32, which would make the two tails unequal.
    log_p = jnp.log(jnp.clip(probs, eps, 1.0 - eps))
    log_not_p = jnp.log(jnp.clip(1.0 - probs, eps, 1.0 - eps))
    per_sample = -(labels * log_p + (1.0 - labels) * log_not_p)
    return divide_or(jnp.sum(weights * per_sample, axis=-1), jnp.sum(weights, axis=-1), 0.0)
