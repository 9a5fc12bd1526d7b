"""Division that never yields NaN, shared by the metrics (degenerate inputs get a stated value)."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def divide_or(num: jax.Array, den: jax.Array, fallback: jax.Array | float) -> jax.Array:
    """``num / den`` where ``den > 0``, else ``fallback`` (broadcast).

    The denominator is replaced before dividing, not only the result afterwards, so that neither the
    value nor its gradient becomes NaN under ``jit`` or ``grad``.
    """
    positive = den > 0
    return jnp.where(positive, num / jnp.where(positive, den, 1.0), fallback)
