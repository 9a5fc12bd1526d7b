"""The user bootstrap against an explicit NumPy resample-and-recompute loop."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxrec.metrics.bootstrap import group_aucs_and_log_loss, percentile_interval, resample_counts


def pairwise_auc(labels, scores):
    """AUC by counting every (positive, negative) pair, ties one half."""
    pos, neg = scores[labels > 0.5], scores[labels <= 0.5]
    diff = pos[:, None] - neg[None, :]
    return ((diff > 0) + 0.5 * (diff == 0)).mean()


def test_resample_counts_draw_units_with_replacement():
    counts = np.asarray(resample_counts(jax.random.key(0), 7, 2000))
    assert counts.shape == (2000, 7)
    np.testing.assert_array_equal(counts.sum(axis=1), 7)
    # each unit's count is Binomial(7, 1/7): mean 1, variance 6/7
    np.testing.assert_allclose(counts.mean(axis=0), 1.0, atol=0.08)
    np.testing.assert_allclose(counts.var(axis=0), 6 / 7, atol=0.12)


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


def test_percentile_interval_covers_the_central_mass():
    draws = np.arange(1001, dtype=float)
    low, high = percentile_interval(draws)
    np.testing.assert_allclose([low, high], [25.0, 975.0])
