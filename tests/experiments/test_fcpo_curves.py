"""Bootstrap of the FCPO trade-off curves against explicit NumPy resampling of users and seeds,
and the paired comparison with the re-ranker's curve on arms with a known ordering."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrec.experiments.fcpo_curves import (
    Arm,
    arm_draws,
    curve_summary,
    curves_table,
    interpolate_curve,
)
from jaxrec.metrics.bootstrap import resample_counts

N_USERS, N_ITEMS, T, K = 30, 40, 12, 10


def bootstrap_indices(key, n_units, n_draws):
    """The resampled unit indices behind ``resample_counts(key, ...)``: i32[n_draws, n_units]."""
    return np.asarray(jax.random.randint(key, (n_draws, n_units), 0, n_units))


def random_arm(rng, method, setting, n_seeds, head_bias=0.0, hit_rate=0.2):
    weights = np.exp(head_bias * (np.arange(N_ITEMS) < 8))
    items = np.stack(
        [
            np.stack(
                [
                    rng.choice(N_ITEMS, T, replace=False, p=weights / weights.sum())
                    for _ in range(N_USERS)
                ]
            )
            for _ in range(n_seeds)
        ]
    )
    hits = rng.random(items.shape) < hit_rate
    return Arm(method, setting, items, hits, rng.integers(1, 6, N_USERS), 1.0)


def numpy_metrics(arm, users, is_head):
    """NDCG@K, Recall@K, PopRate@K (means over the listed users, repeats counted) and Gini@K of the
    item counts, per seed, written out directly."""
    discount = 1 / np.log2(np.arange(2, K + 2))
    out = {name: [] for name in ("ndcg", "recall", "pop_rate", "gini")}
    for items, hits in zip(arm.items, arm.hits, strict=True):
        items, hits, n_rel = items[users, :K], hits[users, :K], arm.n_relevant[users]
        ideal = np.array([discount[: min(n, K)].sum() for n in n_rel])
        out["ndcg"].append(np.mean((hits * discount).sum(1) / ideal))
        out["recall"].append(np.mean(hits.sum(1) / n_rel))
        out["pop_rate"].append(np.mean(is_head[items]))
        counts = np.sort(np.bincount(items.ravel(), minlength=N_ITEMS).astype(float))
        ranks = np.arange(1, N_ITEMS + 1)
        out["gini"].append(np.sum((2 * ranks - N_ITEMS - 1) * counts) / (N_ITEMS * counts.sum()))
    return {name: np.array(v) for name, v in out.items()}


def test_arm_draws_match_explicit_resampling_of_users_and_seeds():
    rng = np.random.default_rng(0)
    arm = random_arm(rng, "cpo", 3.0, n_seeds=3, head_bias=1.0)
    is_head = np.arange(N_ITEMS) < 8
    k_users, k_seeds = jax.random.split(jax.random.key(4))
    n_draws = 20
    user_rows = np.asarray(bootstrap_indices(k_users, N_USERS, n_draws))
    seed_rows = np.asarray(bootstrap_indices(k_seeds, 3, n_draws))
    draws = arm_draws(
        arm,
        jnp.asarray(is_head),
        K,
        resample_counts(k_users, N_USERS, n_draws),
        resample_counts(k_seeds, 3, n_draws),
    )
    for b in range(n_draws):
        per_seed = numpy_metrics(arm, user_rows[b], is_head)
        for name, values in per_seed.items():
            expected = values[seed_rows[b]].mean()
            assert draws[name][b] == pytest.approx(expected, rel=1e-4, abs=1e-5), (name, b)


def test_interpolation_along_an_unsorted_curve():
    curve_x = np.array([[0.5, 0.1, 0.9], [0.2, 0.8, 0.4]])
    curve_y = np.array([[5.0, 1.0, 9.0], [2.0, 8.0, 4.0]])
    got = interpolate_curve(np.array([0.3, 0.9]), curve_x, curve_y)
    np.testing.assert_allclose(got, [np.interp(0.3, [0.1, 0.5, 0.9], [1, 5, 9]), 8.0])


def test_summary_flags_a_real_gap_and_not_a_null_one():
    rng = np.random.default_rng(1)
    is_head = jnp.arange(N_ITEMS) < 8
    rerank = [
        random_arm(rng, "static_rerank", r, 1, head_bias=b, hit_rate=0.2)
        for r, b in ((0.1, -1.0), (0.5, 1.0), (0.9, 3.0))
    ]
    # far more hits than the re-ranker at a pop rate inside its curve: a significant positive gap
    better = random_arm(rng, "cpo", 3.0, 3, head_bias=1.0, hit_rate=0.6)
    # the same hit rate as the re-ranker: the gap's interval covers 0
    same = random_arm(rng, "ppo_lag", 3.0, 3, head_bias=1.0, hit_rate=0.2)
    summary = curve_summary([*rerank, better, same], is_head, K, 10, jax.random.key(0), 200)
    gaps = {(c["method"], c["at_equal"]): c for c in summary["comparisons"]}
    assert gaps[("cpo", "pop_rate")]["significant"]
    assert gaps[("cpo", "pop_rate")]["ndcg_minus_rerank"]["ci_low"] > 0
    assert not gaps[("ppo_lag", "pop_rate")]["significant"]
    assert gaps[("cpo", "pop_rate")]["within_curve"]
    for row in summary["rows"]:
        # means over users are unbiased; a resampled Gini is not (its interval may exclude it)
        for name in ("ndcg", "pop_rate"):
            assert row[name]["ci_low"] <= row[name]["mean"] <= row[name]["ci_high"]
    assert summary["rows"][3]["implied_pop_rate"] == pytest.approx(0.3)
    table = curves_table(summary)
    assert table.loc[table.method == "ppo_lag", "ndcg_gap_at_pop_rate"].str.endswith(" ns").all()
