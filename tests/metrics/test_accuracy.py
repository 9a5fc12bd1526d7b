"""AUC and log loss against pairwise-count and plain NumPy references."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from jaxrec.metrics import auc, log_loss

N = 24  # one fixed sample count, so every case reuses one compiled function

auc_jit = jax.jit(auc)
auc_batched = jax.jit(jax.vmap(auc))
log_loss_jit = jax.jit(log_loss)


def pairwise_auc(labels, scores, weights):
    """The definition: weighted share of (positive, negative) pairs ranked correctly, ties 1/2."""
    num = den = 0.0
    for i in range(len(labels)):
        for j in range(len(labels)):
            if labels[i] > 0.5 and labels[j] <= 0.5:
                w = weights[i] * weights[j]
                den += w
                num += w * (
                    1.0 if scores[i] > scores[j] else 0.5 if scores[i] == scores[j] else 0.0
                )
    return num / den if den > 0 else 0.5


samples = st.tuples(
    st.lists(st.booleans(), min_size=N, max_size=N),
    # few distinct values, so ties are common
    st.lists(st.integers(-3, 3), min_size=N, max_size=N),
    st.lists(st.sampled_from([0.0, 0.5, 1.0, 2.0]), min_size=N, max_size=N),
)


@given(samples)
def test_auc_equals_pairwise_definition_with_ties_and_weights(sample):
    labels, scores, weights = (np.array(a, np.float32) for a in sample)
    got = float(auc_jit(labels, scores, weights))
    assert got == pytest.approx(pairwise_auc(labels, scores, weights), abs=1e-5)


@given(samples)
def test_auc_under_score_negation_is_one_minus_auc(sample):
    labels, scores, weights = (np.array(a, np.float32) for a in sample)
    # also holds when a class is absent: 0.5 + 0.5
    got = float(auc_jit(labels, scores, weights)) + float(auc_jit(labels, -scores, weights))
    assert got == pytest.approx(1.0, abs=1e-5)


def test_auc_one_class_absent_is_one_half_not_nan():
    scores = np.linspace(0, 1, N, dtype=np.float32)
    assert float(auc_jit(np.ones(N), scores, None)) == 0.5
    assert float(auc_jit(np.zeros(N), scores, None)) == 0.5
    # every negative masked out
    labels = (np.arange(N) % 2).astype(np.float32)
    assert float(auc_jit(labels, scores, labels)) == 0.5


def test_auc_weight_zero_drops_samples_and_batches_match_single_calls():
    rng = np.random.default_rng(0)
    labels = rng.random((3, N)) < 0.4
    scores = rng.normal(size=(3, N)).astype(np.float32)
    mask = rng.random((3, N)) < 0.7
    batched = np.asarray(auc_batched(labels, scores, mask))
    for b in range(3):
        kept = mask[b]
        want = pairwise_auc(labels[b][kept], scores[b][kept], np.ones(kept.sum()))
        assert batched[b] == pytest.approx(want, abs=1e-5)
    # leading batch axes work without vmap too
    np.testing.assert_allclose(np.asarray(auc(labels, scores, mask)), batched, atol=1e-6)


def test_auc_perfect_and_reversed_ranking():
    labels = np.arange(N) >= N // 2
    scores = np.arange(N, dtype=np.float32)
    assert float(auc_jit(labels, scores, None)) == 1.0
    assert float(auc_jit(labels, -scores, None)) == 0.0


def test_log_loss_matches_numpy():
    rng = np.random.default_rng(1)
    labels = (rng.random(N) < 0.3).astype(np.float32)
    probs = rng.random(N).astype(np.float32)
    weights = rng.random(N).astype(np.float32)
    p = np.clip(probs.astype(np.float64), 1e-7, 1 - 1e-7)
    per = -(labels * np.log(p) + (1 - labels) * np.log(1 - p))
    assert float(log_loss_jit(labels, probs)) == pytest.approx(per.mean(), rel=1e-5)
    got = float(log_loss_jit(labels, probs, weights=weights))
    assert got == pytest.approx(np.sum(weights * per) / np.sum(weights), rel=1e-5)


def test_log_loss_is_finite_at_extreme_probabilities_and_zero_weight():
    labels = jnp.array([1.0, 0.0, 1.0, 0.0])
    probs = jnp.array([0.0, 1.0, 1.0, 0.0])
    got = float(log_loss(labels, probs))
    assert np.isfinite(got) and got == pytest.approx(-0.5 * np.log(1e-7), rel=1e-3)
    assert float(log_loss(labels, probs, weights=jnp.zeros(4))) == 0.0
