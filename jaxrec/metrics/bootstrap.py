"""Cluster bootstrap by resampling weights (Efron & Tibshirani 1993): resample units (e.g. test
users) with replacement, as integer multiplicities.

A bootstrap draw that picks unit ``u`` ``c_u`` times is the same data set as every sample of ``u``
weighted ``c_u``, so a draw is a weight vector over the fixed units: a weighted mean
``sum c x / sum c`` or item counts ``c @ C`` evaluate every draw without materialising resampled
copies, and sharing one draw between two methods scored on the same units gives *paired* draws, so
the interval of their difference accounts for the units they share. Weighted AUCs reuse one sort of
the scores per model (:func:`jaxrec.metrics.accuracy.auc_ranks`): a draw costs a cumulative sum, not
a sort.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxrec.errors import ConfigError
from jaxrec.metrics.accuracy import auc_from_ranks, auc_ranks, log_loss

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


def block_resample_counts(
    key: jax.Array, n_series: int, length: int, block: int, n_draws: int
) -> jax.Array:
    """f32[n_draws, n_series * length]: multiplicities of the steps of ``n_series`` time series of
    ``length`` steps (unit ``s * length + t``) under a two-level resample: the series with
    replacement, then within each drawn series a moving-block bootstrap of its steps (Kunsch
    1989): ``ceil(length / block)`` blocks of ``block`` consecutive steps, each starting anywhere
    in the series, cut to ``length`` steps. Blocks keep the autocorrelation of neighbouring steps
    that resampling single steps would break, so the interval of a mean over the steps is not
    too narrow; a block of ``length`` steps or more resamples whole series.

    Every row sums to ``n_series * length``; :func:`weighted_mean` evaluates a draw.

    >>> import jax, jax.numpy as jnp
    >>> counts = block_resample_counts(jax.random.key(0), 2, 6, 3, 4)  # 2 series of 6 steps
    >>> counts.shape, counts.sum(axis=1).tolist()
    ((4, 12), [12.0, 12.0, 12.0, 12.0])
    >>> weighted_mean(jnp.ones(12), counts).tolist()  # a constant series: every draw is 1
    [1.0, 1.0, 1.0, 1.0]
    """
    if min(n_series, length, block, n_draws) < 1:
        raise ConfigError(
            "bootstrap",
            "needs n_series, length, block and n_draws >= 1, got "
            f"{n_series}, {length}, {block}, {n_draws}",
        )
    block = min(block, length)
    n_blocks = -(-length // block)
    series_key, start_key = jax.random.split(key)
    series = jax.random.randint(series_key, (n_draws, n_series), 0, n_series)
    starts = jax.random.randint(start_key, (n_draws, n_series, n_blocks), 0, length - block + 1)
    steps = (starts[..., None] + jnp.arange(block)).reshape(n_draws, n_series, -1)[..., :length]
    units = (series[..., None] * length + steps).reshape(n_draws, -1)
    rows = jnp.arange(n_draws)[:, None]
    return jnp.zeros((n_draws, n_series * length), jnp.float32).at[rows, units].add(1.0)


def weighted_mean(values: jax.Array, counts: jax.Array) -> jax.Array:
    """``sum_u c_u x_u / sum_u c_u`` over the last axis of ``values`` f[..., n] for each row of
    ``counts`` f[B, n] (:func:`resample_counts`): f[B, ...]."""
    totals = counts.sum(axis=-1).reshape((-1,) + (1,) * (values.ndim - 1))
    return jnp.einsum("bn,...n->b...", counts, values) / totals


def group_aucs_and_log_loss(
    labels: jax.Array,
    scores: jax.Array,
    groups: jax.Array,
    unit: jax.Array,
    counts: jax.Array,
    batch_size: int = 32,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Overall AUC, per-group AUCs and log loss of ``scores`` under every resample.

    Args:
      labels: f32[N] binary labels.
      scores: f32[S, N] logits (e.g. one row per training seed); log loss uses ``sigmoid(scores)``.
      groups: bool[G, N] sample masks, e.g. buckets (a group AUC weighs only its samples).
      unit: i32[N], the resampling unit of each sample (``0 .. U - 1``).
      counts: f32[D, U] unit multiplicities per draw (:func:`resample_counts`; all ones = no resample).
      batch_size: draws evaluated at once (bounds memory at ``batch_size * S * G * N``).

    Returns:
      ``(auc f32[D, S], group_auc f32[D, S, G], log_loss f32[D, S])``.
    """
    positive = labels > 0.5
    ranks = jax.vmap(auc_ranks)(scores)
    probs = jax.nn.sigmoid(scores)
    group_weights = groups.astype(jnp.float32)

    def one_draw(unit_counts):
        weights = unit_counts[unit]

        def one_seed(seed_ranks, seed_probs):
            overall = auc_from_ranks(positive, weights, seed_ranks)
            per_group = jax.vmap(lambda g: auc_from_ranks(positive, weights * g, seed_ranks))(
                group_weights
            )
            return overall, per_group, log_loss(labels, seed_probs, weights=weights)

        return jax.vmap(one_seed)(ranks, probs)

    return jax.lax.map(one_draw, counts, batch_size=batch_size)


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
