"""Nonparametric bootstrap by resampling weights (Efron & Tibshirani 1993): confidence intervals
for any statistic that can be written with per-unit weights, e.g. a mean over users or a Gini of
item counts summed over users.

A bootstrap draw resamples ``n`` units with replacement; unit ``u`` then enters the statistic
``w_u`` times, ``w ~ Multinomial(n, 1/n)``. Expressing the statistic through ``w`` (a weighted mean
``sum w x / sum w``, counts ``w @ C``) evaluates every draw without materialising resampled copies,
and sharing one ``w`` between two methods scored on the same units gives *paired* draws, so the
interval of their difference accounts for the units they share.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxrec.errors import ConfigError


def bootstrap_indices(key: jax.Array, n_units: int, n_draws: int) -> jax.Array:
    """``n_draws`` resamples of ``n_units`` units with replacement: i32[n_draws, n_units]."""
    if n_units < 1 or n_draws < 1:
        raise ConfigError(
            "bootstrap", f"needs n_units >= 1 and n_draws >= 1, got {n_units}, {n_draws}"
        )
    return jax.random.randint(key, (n_draws, n_units), 0, n_units)


def bootstrap_weights(key: jax.Array, n_units: int, n_draws: int) -> jax.Array:
    """How often each unit is drawn in each of ``n_draws`` resamples (the resamples of
    :func:`bootstrap_indices` with the same key): f32[n_draws, n_units], each row summing to
    ``n_units``."""
    indices = bootstrap_indices(key, n_units, n_draws)
    return jax.vmap(lambda row: jnp.zeros(n_units, jnp.float32).at[row].add(1.0))(indices)


def weighted_mean(values: jax.Array, weights: jax.Array) -> jax.Array:
    """``sum_u w_u x_u / sum_u w_u`` over the last axis of ``values`` f[..., n] for each row of
    ``weights`` f[B, n]: f[B, ...]."""
    return jnp.einsum("bn,...n->b...", weights, values) / weights.sum(axis=-1).reshape(
        (-1,) + (1,) * (values.ndim - 1)
    )


def percentile_interval(
    draws: np.ndarray | jax.Array, level: float = 0.95, axis: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """The percentile interval ``(low, high)`` of bootstrap ``draws`` along ``axis``: the
    ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles (linear interpolation, NumPy's default)."""
    if not 0 < level < 1:
        raise ConfigError("level", f"must be in (0, 1), got {level}")
    draws = np.asarray(draws)
    low, high = np.quantile(draws, [(1 - level) / 2, (1 + level) / 2], axis=axis)
    return low, high


def basic_interval(
    estimate: np.ndarray | float,
    draws: np.ndarray | jax.Array,
    level: float = 0.95,
    axis: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """The basic (reverse-percentile) interval ``(2 t - q_high, 2 t - q_low)`` of an ``estimate``
    ``t`` from its bootstrap ``draws`` (Davison & Hinkley 1997, eq. 5.6). Unlike the percentile
    interval it corrects a shift of the draws away from the estimate, as for a Gini of counts
    summed over resampled users: repeated users concentrate the counts, so the draws' Gini sits
    above the observed one."""
    low, high = percentile_interval(draws, level, axis)
    estimate = np.asarray(estimate)
    return 2 * estimate - high, 2 * estimate - low


def significant(low: np.ndarray | float, high: np.ndarray | float) -> np.ndarray:
    """Whether an interval of a difference excludes zero."""
    return (np.asarray(low) > 0) | (np.asarray(high) < 0)
