"""Cluster bootstrap by resampling weights (Efron & Tibshirani 1993): resample units (e.g. test
users) with replacement, as integer multiplicities.

A bootstrap draw that picks unit ``u`` ``c_u`` times is the same data set as every sample of ``u``
weighted ``c_u``, so a draw is a weight vector over the fixed units: a weighted mean
``sum c x / sum c`` or item counts ``c @ C`` evaluate every draw without materialising resampled
copies, and sharing one draw between two methods scored on the same units gives *paired* draws, so
the interval of their difference accounts for the units they share.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxrec.errors import ConfigError

CI_LEVEL = 0.95


def resample_counts(key: jax.Array, n_units: int, n_draws: int) -> jax.Array:
    """f32[n_draws, n_units]: how often each unit is drawn in each of ``n_draws`` resamples of
    ``n_units`` units with replacement (every row sums to ``n_units``)."""
    if n_units < 1 or n_draws < 1:
        raise ConfigError(
            "bootstrap", f"needs n_units >= 1 and n_draws >= 1, got {n_units}, {n_draws}"
        )
    picks = jax.random.randint(key, (n_draws, n_units), 0, n_units)
    rows = jnp.arange(n_draws)[:, None]
    return jnp.zeros((n_draws, n_units), jnp.float32).at[rows, picks].add(1.0)


def weighted_mean(values: jax.Array, counts: jax.Array) -> jax.Array:
    """``sum_u c_u x_u / sum_u c_u`` over the last axis of ``values`` f[..., n] for each row of
    ``counts`` f[B, n] (:func:`resample_counts`): f[B, ...]."""
    totals = counts.sum(axis=-1).reshape((-1,) + (1,) * (values.ndim - 1))
    return jnp.einsum("bn,...n->b...", counts, values) / totals


def percentile_interval(
    draws: np.ndarray, level: float = CI_LEVEL
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap interval over the leading (draw) axis: ``(low, high)``."""
    if not 0 < level < 1:
        raise ConfigError("level", f"must be in (0, 1), got {level}")
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(np.asarray(draws, np.float64), [tail, 100 - tail], axis=0)
    return low, high


def basic_interval(
    estimate: np.ndarray | float, draws: np.ndarray, level: float = CI_LEVEL
) -> tuple[np.ndarray, np.ndarray]:
    """The basic (reverse-percentile) interval ``(2 t - q_high, 2 t - q_low)`` of an ``estimate``
    ``t`` from its bootstrap ``draws`` (Davison & Hinkley 1997, eq. 5.6). Unlike the percentile
    interval it corrects a shift of the draws away from the estimate, as for a Gini of counts
    summed over resampled users: repeated users concentrate the counts, so the draws' Gini sits
    above the observed one, and the interval may then lie below the estimate."""
    low, high = percentile_interval(draws, level)
    estimate = np.asarray(estimate, np.float64)
    return 2 * estimate - high, 2 * estimate - low


def significant(low: np.ndarray | float, high: np.ndarray | float) -> np.ndarray:
    """Whether an interval of a difference excludes zero."""
    return (np.asarray(low) > 0) | (np.asarray(high) < 0)
