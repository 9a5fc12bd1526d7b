"""Exposure metrics against plain NumPy loops, closed forms and the defining properties."""

from __future__ import annotations

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats
from hypothesis import assume, given
from hypothesis import strategies as st

from jaxrec.errors import ConfigError
from jaxrec.metrics import (
    bucket_shares,
    entropy,
    expected_exposure,
    expected_exposure_loss,
    gini,
    group_exposure_ratio,
    hhi,
    long_tail_coverage,
    lorenz_curve,
    position_weights,
    target_exposure,
    top_share,
)

N = 12  # one fixed vector length, so every case reuses one compiled function


@jax.jit
def concentration(x):
    return {
        "gini": gini(x),
        "hhi": hhi(x),
        "hhi_norm": hhi(x, normalized=True),
        "entropy": entropy(x, normalized=False),
        "entropy_norm": entropy(x),
        "top_share": top_share(x, fraction=0.25),
    }


def metrics_of(x):
    return {name: float(v) for name, v in concentration(jnp.asarray(x, jnp.float32)).items()}


amounts = st.lists(st.integers(0, 50), min_size=N, max_size=N).map(
    lambda v: np.array(v, np.float32)
)


def gini_mean_abs_difference(x):
    """Independent definition: G = sum_ij |x_i - x_j| / (2 n sum x)."""
    x = np.asarray(x, np.float64)
    total = x.sum()
    if total == 0:
        return 0.0
    return np.abs(x[:, None] - x[None, :]).sum() / (2 * len(x) * total)


@given(amounts)
def test_concentration_metrics_match_numpy(x):
    got = metrics_of(x)
    total = x.sum()
    s = x / total if total > 0 else np.full(N, 1 / N)
    assert got["gini"] == pytest.approx(gini_mean_abs_difference(x), abs=1e-5)
    assert got["hhi"] == pytest.approx(np.sum(s**2), abs=1e-5)
    assert got["hhi_norm"] == pytest.approx((np.sum(s**2) - 1 / N) / (1 - 1 / N), abs=1e-5)
    assert got["entropy"] == pytest.approx(scipy.stats.entropy(s), abs=1e-5)
    assert got["entropy_norm"] == pytest.approx(scipy.stats.entropy(s) / np.log(N), abs=1e-5)
    top = np.sort(x)[::-1][:3]  # ceil(0.25 * 12) = 3
    assert got["top_share"] == pytest.approx(top.sum() / total if total > 0 else 3 / N, abs=1e-5)


@given(amounts)
def test_concentration_metrics_stay_in_their_ranges(x):
    got = metrics_of(x)
    eps = 1e-5
    assert -eps <= got["gini"] <= 1 - 1 / N + eps
    assert 1 / N - eps <= got["hhi"] <= 1 + eps
    assert -eps <= got["hhi_norm"] <= 1 + eps
    assert -eps <= got["entropy_norm"] <= 1 + eps
    assert 3 / N - eps <= got["top_share"] <= 1 + eps


@given(amounts, st.randoms(use_true_random=False), st.floats(0.01, 100))
def test_concentration_is_invariant_to_permutation_and_scaling(x, rnd, scale):
    permuted = x.copy()
    rnd.shuffle(permuted)
    base, other = metrics_of(x), metrics_of(permuted * np.float32(scale))
    for name, value in base.items():
        assert other[name] == pytest.approx(value, abs=1e-4), name


@given(st.integers(1, 1000))
def test_equal_exposure_is_perfectly_equal(level):
    got = metrics_of(np.full(N, level, np.float32))
    assert got["gini"] == pytest.approx(0.0, abs=1e-6)
    assert got["hhi_norm"] == pytest.approx(0.0, abs=1e-6)
    assert got["entropy_norm"] == pytest.approx(1.0, abs=1e-6)


def test_all_zero_counts_as_equal_and_monopoly_is_maximal():
    zero = metrics_of(np.zeros(N))
    assert zero == pytest.approx(
        {
            "gini": 0,
            "hhi": 1 / N,
            "hhi_norm": 0,
            "entropy": np.log(N),
            "entropy_norm": 1,
            "top_share": 3 / N,
        },
        abs=1e-6,
    )
    one = metrics_of(np.eye(N)[0] * 7)
    assert one == pytest.approx(
        {
            "gini": 1 - 1 / N,
            "hhi": 1,
            "hhi_norm": 1,
            "entropy": 0,
            "entropy_norm": 0,
            "top_share": 1,
        },
        abs=1e-6,
    )


@given(amounts, st.integers(0, N - 1), st.integers(0, N - 1), st.integers(1, 50))
def test_gini_rises_under_a_transfer_from_poorer_to_richer(x, i, j, amount):
    poor, rich = (i, j) if x[i] <= x[j] else (j, i)
    assume(poor != rich and x[poor] >= amount)
    moved = x.copy()
    moved[poor] -= amount
    moved[rich] += amount
    assert metrics_of(moved)["gini"] > metrics_of(x)["gini"] + 1e-6


def test_reductions_follow_axis_and_vmap():
    rng = np.random.default_rng(0)
    x = rng.poisson(3.0, size=(4, N)).astype(np.float32)
    batched = jax.jit(jax.vmap(gini))(x)
    np.testing.assert_allclose(gini(x), batched, atol=1e-6)
    np.testing.assert_allclose(gini(x.T, axis=0), batched, atol=1e-6)
    np.testing.assert_allclose(hhi(x.T, axis=0), [hhi(r) for r in x], atol=1e-6)
    np.testing.assert_allclose(entropy(x.T, axis=0), [entropy(r) for r in x], atol=1e-6)
    np.testing.assert_allclose(
        top_share(x.T, 0.1, axis=0), [top_share(r, 0.1) for r in x], atol=1e-6
    )


def test_top_share_counts_fractions_without_float_error():
    x = np.arange(100, dtype=np.float32)
    # 0.19 * 100 = 19.000000000000004 in floating point; the top group must hold 19 items, not 20.
    assert float(top_share(x, 0.19)) == pytest.approx(x[-19:].sum() / x.sum(), rel=1e-6)
    with pytest.raises(ConfigError, match="fraction"):
        top_share(x, 0.0)


def test_position_weights_closed_forms():
    rank = np.arange(1, 6)
    np.testing.assert_allclose(position_weights(5), 1 / np.log2(1 + rank), rtol=1e-6)
    np.testing.assert_allclose(position_weights(5, "rbp", 0.7), 0.3 * 0.7 ** (rank - 1), rtol=1e-6)
    np.testing.assert_allclose(position_weights(5, "cascade", 0.7), 0.7 ** (rank - 1), rtol=1e-6)
    assert float(jnp.sum(position_weights(200, "rbp", 0.9))) == pytest.approx(1.0, abs=1e-6)
    # gamma may be traced, e.g. swept with vmap
    swept = jax.vmap(lambda g: position_weights(3, "rbp", g))(jnp.array([0.5, 0.8]))
    np.testing.assert_allclose(swept[1], 0.2 * 0.8 ** np.arange(3), rtol=1e-6)
    with pytest.raises(ConfigError, match="kind"):
        position_weights(3, "linear")
    with pytest.raises(ConfigError, match="gamma"):
        position_weights(3, "rbp", 1.0)


def bucket_shares_reference(exposure, popularity, alive, head, torso):
    alive_ids = [i for i in range(len(exposure)) if alive[i]]
    n_alive = len(alive_ids)
    warm = sorted((i for i in alive_ids if popularity[i] > 0), key=lambda i: (-popularity[i], i))
    n_head = math.ceil(round(head * n_alive, 6))
    n_head_torso = math.ceil(round((head + torso) * n_alive, 6))
    buckets = {
        "head": warm[:n_head],
        "torso": warm[n_head:n_head_torso],
        "tail": warm[n_head_torso:],
        "cold": [i for i in alive_ids if popularity[i] <= 0],
    }
    total = sum(exposure[i] for i in alive_ids)
    return {
        name: (sum(exposure[i] for i in ids) / total if total > 0 else len(ids) / n_alive)
        for name, ids in buckets.items()
    }


bucket_shares_jit = jax.jit(bucket_shares, static_argnames=("head", "torso"))


@given(
    st.lists(st.integers(0, 9), min_size=40, max_size=40),
    st.lists(st.integers(0, 4), min_size=40, max_size=40),
    st.lists(st.booleans(), min_size=40, max_size=40),
)
def test_bucket_shares_match_a_loop_reference(exposure, popularity, alive):
    assume(any(alive))
    exposure, popularity = np.array(exposure, np.float32), np.array(popularity, np.float32)
    alive = np.array(alive)
    got = bucket_shares_jit(exposure, popularity, alive, head=0.1, torso=0.2)
    want = bucket_shares_reference(exposure, popularity, alive, 0.1, 0.2)
    assert {k: float(v) for k, v in got.items()} == pytest.approx(want, abs=1e-5)
    assert sum(float(v) for v in got.values()) == pytest.approx(1.0, abs=1e-5)


def test_bucket_shares_take_an_explicit_cold_mask():
    exposure = np.array([5.0, 3.0, 2.0, 0.0])
    popularity = np.array([9.0, 4.0, 1.0, 0.0])
    cold = np.array([False, False, True, True])  # e.g. no cumulative exposure before this step
    got = bucket_shares(exposure, popularity, head=0.25, torso=0.25, cold=cold)
    assert {k: float(v) for k, v in got.items()} == pytest.approx(
        {"head": 0.5, "torso": 0.3, "tail": 0.0, "cold": 0.2}
    )


def test_long_tail_coverage_and_group_exposure_ratio_match_numpy():
    rng = np.random.default_rng(1)
    exposure = rng.poisson(0.7, size=(3, 30)).astype(np.float32)
    is_head = rng.random((3, 30)) < 0.2
    alive = rng.random((3, 30)) < 0.9
    coverage = long_tail_coverage(exposure, is_head, alive)
    per_item = group_exposure_ratio(exposure, is_head, alive)
    totals = group_exposure_ratio(exposure, is_head, alive, per_item=False)
    for b in range(3):
        tail = ~is_head[b] & alive[b]
        head = is_head[b] & alive[b]
        assert float(coverage[b]) == pytest.approx(np.mean(exposure[b][tail] > 0))
        assert float(per_item[b]) == pytest.approx(
            exposure[b][head].mean() / exposure[b][tail].mean(), rel=1e-5
        )
        assert float(totals[b]) == pytest.approx(
            exposure[b][head].sum() / exposure[b][tail].sum(), rel=1e-5
        )


def test_group_exposure_ratio_degenerate_cases_are_never_nan():
    is_head = np.array([True, False, False])
    assert float(group_exposure_ratio(np.zeros(3), is_head)) == 1.0
    assert float(group_exposure_ratio(np.array([2.0, 0.0, 0.0]), is_head)) == np.inf
    assert float(group_exposure_ratio(np.array([2.0, 1.0, 3.0]), is_head)) == pytest.approx(1.0)
    assert float(long_tail_coverage(np.ones(3), np.ones(3, bool))) == 0.0


def test_expected_exposure_matches_a_loop_reference():
    rng = np.random.default_rng(2)
    rankings = np.stack([rng.permutation(8)[:4] for _ in range(6)]).astype(np.int32)
    rankings[0, 3] = -1  # padding contributes nothing
    w = np.asarray(position_weights(4, "rbp", 0.5))
    want = np.zeros(8)
    for ranking in rankings:
        for k, item in enumerate(ranking):
            if item >= 0:
                want[item] += w[k] / len(rankings)
    np.testing.assert_allclose(expected_exposure(rankings, 8, w), want, rtol=1e-6)
    batched = expected_exposure(np.stack([rankings, rankings[::-1]]), 8, w)
    np.testing.assert_allclose(batched[1], want, rtol=1e-6)


def test_target_exposure_is_the_exposure_of_the_ideal_stochastic_ranking():
    """Diaz et al.: the ideal policy samples uniformly among rankings sorted by grade."""
    grades = np.array([1.0, 0.0, 2.0, 1.0, 0.0, 1.0])
    w = np.asarray(position_weights(4, "log"))
    ideal = [p for p in itertools.permutations(range(6)) if np.all(np.diff(grades[list(p)]) <= 0)]
    rankings = np.array(ideal, np.int32)[:, :4]
    from_sampling = expected_exposure(rankings, 6, w)
    target = target_exposure(grades, w)
    np.testing.assert_allclose(target, from_sampling, rtol=1e-5)
    assert float(expected_exposure_loss(from_sampling, target)) == pytest.approx(0.0, abs=1e-10)
    # a deterministic ranking concentrates exposure and has positive loss
    deterministic = expected_exposure(rankings[:1], 6, w)
    loss = float(expected_exposure_loss(deterministic, target))
    want = float(np.sum((np.asarray(deterministic) - np.asarray(target)) ** 2))
    assert loss == pytest.approx(want, rel=1e-6) and loss > 0


def test_lorenz_curve_area_gives_gini():
    x = np.random.default_rng(3).exponential(size=50)
    population, share = lorenz_curve(x)
    assert population[0] == share[0] == 0 and population[-1] == share[-1] == pytest.approx(1.0)
    area_under = np.sum((share[1:] + share[:-1]) / 2 * np.diff(population))
    assert 1 - 2 * area_under == pytest.approx(float(gini(x)), abs=1e-5)
    np.testing.assert_allclose(lorenz_curve(np.zeros(4))[1], np.linspace(0, 1, 5))


def test_group_and_expected_exposure_metrics_trace_under_jit():
    rng = np.random.default_rng(4)
    exposure = rng.poisson(1.0, size=16).astype(np.float32)
    is_head = rng.random(16) < 0.25
    rankings = np.stack([rng.permutation(16)[:4] for _ in range(3)]).astype(np.int32)
    grades = rng.integers(0, 3, size=16).astype(np.float32)

    def compute(exposure, is_head, rankings, grades, gamma):
        w = position_weights(4, "rbp", gamma)
        e = expected_exposure(rankings, 16, w)
        return (
            long_tail_coverage(exposure, is_head),
            group_exposure_ratio(exposure, is_head),
            expected_exposure_loss(e, target_exposure(grades, w)),
        )

    args = (exposure, is_head, rankings, grades, np.float32(0.5))
    np.testing.assert_allclose(jax.jit(compute)(*args), compute(*args), rtol=1e-6)


def test_gradients_stay_finite_at_zero_exposure():
    for metric in (gini, hhi, entropy, top_share):
        grad = jax.grad(lambda x, metric=metric: metric(x))(jnp.zeros(N))
        assert np.all(np.isfinite(grad)), metric.__name__


@given(
    x=st.lists(st.floats(0.0, 100.0), min_size=N, max_size=N),
    keep=st.lists(st.booleans(), min_size=N, max_size=N),
)
def test_masked_gini_equals_gini_of_the_members(x, keep):
    x, keep = np.asarray(x, np.float32), np.asarray(keep)
    assume(keep.any())
    expected = gini_mean_abs_difference(x[keep])
    got = float(masked_gini(jnp.asarray(x), jnp.asarray(keep)))
    assert got == pytest.approx(expected, abs=1e-5)


masked_gini = jax.jit(lambda x, keep: gini(x, where=keep))
