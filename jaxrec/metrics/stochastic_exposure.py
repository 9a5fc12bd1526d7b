"""Expected exposure of stochastic ranking policies (Diaz et al. 2020, "Evaluating Stochastic Rankings
with Expected Exposure").

A stochastic policy is described by ``S`` sampled rankings; an item's expected exposure is the mean
position weight (:func:`jaxrec.metrics.exposure.position_weights`) it receives over them. The ideal
policy's target exposure follows from relevance grades, and EE-L is the squared distance between the
two. Pure ``jnp``; everything traces under ``jit``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxrec.metrics.exposure import _last


def expected_exposure(rankings: jax.Array, n_items: int, weights: jax.Array) -> jax.Array:
    """Expected exposure of each item under a stochastic ranking policy (Diaz et al. 2020).

        e_i = (1/S) sum_s sum_k w_k [rankings[s, k] = i]

    i.e. the mean position weight item i receives over S sampled rankings (an item absent from a
    ranking gets 0 from it).

    Args:
      rankings: i32[..., S, K] sampled rankings (item ids, best first); ids < 0 are padding.
      n_items: number of items n (static).
      weights: f32[K] position weights, e.g. ``position_weights(K, "rbp", 0.5)`` as in the paper.

    Returns:
      f32[..., n_items] expected exposure per item.
    """
    rankings = jnp.asarray(rankings, jnp.int32)
    weights = jnp.broadcast_to(jnp.asarray(weights, jnp.float32), rankings.shape)
    weights = jnp.where(rankings >= 0, weights, 0.0)
    batch_shape = rankings.shape[:-2]
    n_samples = rankings.shape[-2]
    flat_ids = rankings.reshape(-1, rankings.shape[-2] * rankings.shape[-1])
    flat_w = weights.reshape(flat_ids.shape)

    def accumulate(ids: jax.Array, w: jax.Array) -> jax.Array:
        return jnp.zeros(n_items, jnp.float32).at[jnp.maximum(ids, 0)].add(w)

    exposure = jax.vmap(accumulate)(flat_ids, flat_w) / n_samples
    return exposure.reshape((*batch_shape, n_items))


def target_exposure(relevance: jax.Array, weights: jax.Array) -> jax.Array:
    """Target (ideal) expected exposure e* from relevance grades (Diaz et al. 2020, Sec. 4).

    The ideal stochastic policy ranks items by grade and shuffles uniformly within a grade, so every
    item of a grade gets the mean weight of the positions that grade occupies:

        e*_i = (1 / |G|) sum_{p in positions(G)} w_p,   G = items with grade = grade_i

    Positions beyond ``len(weights)`` have weight 0.

    Args:
      relevance: f32[..., n] relevance grades (higher is more relevant).
      weights: f32[K] position weights, K <= n.

    Returns:
      f32[..., n] target exposure per item.
    """
    relevance = jnp.asarray(relevance, jnp.float32)
    n = relevance.shape[-1]
    weights = jnp.asarray(weights, jnp.float32)
    weights = weights[:n]
    padded = jnp.zeros(n, jnp.float32).at[: weights.shape[0]].set(weights)
    cum_w = jnp.concatenate([jnp.zeros(1, jnp.float32), jnp.cumsum(padded)])

    def one(grades: jax.Array) -> jax.Array:
        descending = -jnp.sort(-grades)
        # Positions [first, last) are held by the grade of each item; descending order, so search
        # the negated (ascending) grades.
        first = jnp.searchsorted(-descending, -grades, side="left")
        last = jnp.searchsorted(-descending, -grades, side="right")
        return (cum_w[last] - cum_w[first]) / (last - first)

    flat = jax.vmap(one)(relevance.reshape(-1, n))
    return flat.reshape(relevance.shape)


def expected_exposure_loss(e: jax.Array, e_target: jax.Array, axis: int = -1) -> jax.Array:
    """Expected-exposure loss EE-L (Diaz et al. 2020): squared distance to the target exposure.

        EE-L = ||e - e*||^2 = EE-D - 2 EE-R + ||e*||^2,   EE-D = ||e||^2,   EE-R = e . e*

    The disparity part EE-D is small when exposure is spread evenly; the relevance part EE-R is
    large when exposure goes to the items that deserve it. Lower EE-L is better.

    Args:
      e: [..., n, ...] expected exposure of the policy (:func:`expected_exposure`).
      e_target: [..., n, ...] target exposure (:func:`target_exposure`).
      axis: the axis holding the n items.

    Returns:
      f32[...] EE-L >= 0.
    """
    return jnp.sum((_last(e, axis) - _last(e_target, axis)) ** 2, axis=-1)
