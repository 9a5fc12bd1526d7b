"""Turning scores into slates: masked top-K selection without sorting the catalogue."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def select_slate(scores: jax.Array, mask: jax.Array, slate_size: int) -> jax.Array:
    """The ``slate_size`` highest-scoring allowed items per user, best first: i32[U, K].

    Args:
      scores: f32[U, M] higher is better.
      mask: bool[U, M] allowed items (see :meth:`jaxrec.envs.PlatformEnv.action_mask`).
      slate_size: K (static).

    Uses ``lax.top_k`` (ties go to the lower item index). When a user has fewer than K allowed
    items the remaining positions hold disallowed items with score -inf; the environment does not
    show dead items, so only history-masked live items can fill such a slate.

    >>> scores = jnp.array([[0.1, 0.9, 0.5, 0.7]])
    >>> select_slate(scores, jnp.array([[True, True, False, True]]), 2).tolist()
    [[1, 3]]
    """
    masked = jnp.where(mask, scores, -jnp.inf)
    return jax.lax.top_k(masked, slate_size)[1].astype(jnp.int32)
