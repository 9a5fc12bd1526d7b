"""The weight-form bootstrap against explicit NumPy resampling (means, and AUCs recomputed on the
resampled users), and its interval against the normal-theory standard error of a mean."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrec.errors import ConfigError
from jaxrec.metrics.bootstrap import (
    basic_interval,
    block_resample_counts,
    group_aucs_and_log_loss,
    percentile_interval,
    resample_counts,
    significant,
    weighted_mean,
)


def pairwise_auc(labels, scores):
    """AUC by counting every (positive, negative) pair, ties one half."""
    pos, neg = scores[labels > 0.5], scores[labels <= 0.5]
    diff = pos[:, None] - neg[None, :]
    return ((diff > 0) + 0.5 * (diff == 0)).mean()


def bootstrap_indices(key, n_units, n_draws):
    """The resampled unit indices behind ``resample_counts(key, ...)``: i32[n_draws, n_units]."""
    return np.asarray(jax.random.randint(key, (n_draws, n_units), 0, n_units))


def test_weights_count_the_resampled_indices():
    key = jax.random.key(3)
    indices = np.asarray(bootstrap_indices(key, 17, 40))
    weights = np.asarray(resample_counts(key, 17, 40))
    expected = np.stack([np.bincount(row, minlength=17) for row in indices])
    np.testing.assert_array_equal(weights, expected)
    np.testing.assert_array_equal(weights.sum(axis=1), np.full(40, 17))


def test_weighted_mean_and_interval_match_explicit_resampling():
    rng = np.random.default_rng(0)
    values = rng.normal(size=(3, 25)).astype(np.float32)  # 3 statistics over 25 units
    key = jax.random.key(1)
    indices = np.asarray(bootstrap_indices(key, 25, 500))
    reference = np.stack([values[:, row].mean(axis=1) for row in indices])  # [B, 3]
    draws = np.asarray(weighted_mean(values, resample_counts(key, 25, 500)))
    np.testing.assert_allclose(draws, reference, rtol=1e-5, atol=1e-6)
    low, high = percentile_interval(draws, 0.9)
    np.testing.assert_allclose(low, np.percentile(reference, 5, axis=0), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(high, np.percentile(reference, 95, axis=0), rtol=1e-4, atol=1e-5)


def test_interval_of_a_mean_has_the_normal_theory_width():
    rng = np.random.default_rng(2)
    values = rng.exponential(size=400).astype(np.float32)
    draws = np.asarray(weighted_mean(values, resample_counts(jax.random.key(0), 400, 4000)))
    low, high = percentile_interval(draws)
    standard_error = values.std() / np.sqrt(len(values))
    assert (high - low) / (2 * 1.959964 * standard_error) == pytest.approx(1.0, abs=0.08)
    assert low < values.mean() < high


def block_counts_by_loop(key, n_series, length, block, n_draws):
    """The multiplicities of :func:`block_resample_counts` rebuilt one block at a time from the
    same random draws (series picks, then block starts)."""
    block = min(block, length)
    n_blocks = -(-length // block)
    series_key, start_key = jax.random.split(key)
    series = np.asarray(jax.random.randint(series_key, (n_draws, n_series), 0, n_series))
    starts = np.asarray(
        jax.random.randint(start_key, (n_draws, n_series, n_blocks), 0, length - block + 1)
    )
    counts = np.zeros((n_draws, n_series, length))
    for d in range(n_draws):
        for slot in range(n_series):
            taken = 0
            for start in starts[d, slot]:
                for t in range(start, start + block):
                    if taken < length:
                        counts[d, series[d, slot], t] += 1
                        taken += 1
    return counts.reshape(n_draws, -1)


@pytest.mark.parametrize("n_series, length, block", [(3, 10, 4), (2, 5, 9), (4, 6, 1)])
def test_block_counts_match_a_loop_over_blocks(n_series, length, block):
    key = jax.random.key(5)
    counts = np.asarray(block_resample_counts(key, n_series, length, block, 30))
    np.testing.assert_array_equal(counts, block_counts_by_loop(key, n_series, length, block, 30))
    np.testing.assert_array_equal(counts.sum(axis=1), np.full(30, n_series * length))
    if block >= length:  # whole series: every step of a series drawn equally often
        per_series = counts.reshape(30, n_series, length)
        np.testing.assert_array_equal(per_series, per_series[..., :1].repeat(length, axis=-1))


def test_block_interval_covers_the_autocorrelation_single_steps_miss():
    """The mean of an AR(1) series (phi 0.9): blocks of 100 steps give about the long-run
    standard error ``sigma / ((1 - phi) sqrt(n))``; resampling single steps gives about
    ``sigma / sqrt((1 - phi^2) n)``, four times too narrow."""
    phi, n = 0.9, 6000
    rng = np.random.default_rng(7)
    noise = rng.normal(size=n)
    series = np.zeros(n)
    for t in range(1, n):
        series[t] = phi * series[t - 1] + noise[t]
    values = series.astype(np.float32)
    key = jax.random.key(8)
    blocks = np.asarray(weighted_mean(values, block_resample_counts(key, 1, n, 100, 1000)))
    steps = np.asarray(weighted_mean(values, block_resample_counts(key, 1, n, 1, 1000)))
    assert blocks.std() == pytest.approx(1 / ((1 - phi) * np.sqrt(n)), rel=0.25)
    assert steps.std() == pytest.approx(1 / np.sqrt((1 - phi**2) * n), rel=0.15)


def test_significance_and_validation():
    np.testing.assert_array_equal(
        significant(np.array([-1.0, 0.5, -2.0]), np.array([1.0, 2.0, -0.1])), [False, True, True]
    )
    with pytest.raises(ConfigError, match="level"):
        percentile_interval(np.zeros(10), level=1.5)
    with pytest.raises(ConfigError, match="bootstrap"):
        resample_counts(jax.random.key(0), 0, 10)
    with pytest.raises(ConfigError, match="block"):
        block_resample_counts(jax.random.key(0), 2, 10, 0, 10)


def test_basic_interval_reflects_the_percentile_interval_about_the_estimate():
    draws = np.random.default_rng(4).gamma(2.0, size=(1000, 2)) + np.array([0.0, 5.0])
    estimate = np.array([1.0, 6.0])
    low, high = basic_interval(estimate, draws, 0.8)
    q_low, q_high = np.percentile(draws, [10, 90], axis=0)
    np.testing.assert_allclose(low, 2 * estimate - q_high)
    np.testing.assert_allclose(high, 2 * estimate - q_low)


def test_weighted_draws_equal_recomputing_on_the_resampled_users():
    rng = np.random.default_rng(1)
    n, n_units = 60, 9
    unit = rng.integers(0, n_units, n)
    labels = (rng.random(n) < 0.4).astype(np.float32)
    scores = np.round(rng.normal(size=(2, n)) + labels, 1).astype(np.float32)  # ties on purpose
    groups = np.stack([rng.random(n) < 0.5, np.ones(n, bool)])
    counts = np.asarray(resample_counts(jax.random.key(3), n_units, 5))
    overall, per_group, loss = group_aucs_and_log_loss(
        jnp.asarray(labels), jnp.asarray(scores), jnp.asarray(groups), jnp.asarray(unit),
        jnp.asarray(counts), batch_size=2,
    )  # fmt: skip
    for d in range(5):
        # the resample, built explicitly: every sample of a unit drawn c times appears c times
        rows = np.concatenate([np.flatnonzero(unit == u).repeat(int(c))
                               for u, c in enumerate(counts[d])])  # fmt: skip
        for s in range(2):
            y, x = labels[rows], scores[s, rows]
            np.testing.assert_allclose(overall[d, s], pairwise_auc(y, x), atol=1e-5)
            for g in range(2):
                keep = groups[g, rows]
                np.testing.assert_allclose(
                    per_group[d, s, g], pairwise_auc(y[keep], x[keep]), atol=1e-5
                )
            p = np.clip(1 / (1 + np.exp(-x.astype(np.float64))), 1e-7, 1 - 1e-7)
            want = -(y * np.log(p) + (1 - y) * np.log(1 - p)).mean()
            np.testing.assert_allclose(loss[d, s], want, rtol=1e-4)
