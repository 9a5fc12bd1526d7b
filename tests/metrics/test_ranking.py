"""Top-K ranking metrics against a per-user Python loop and their defining properties."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from jaxrec.errors import ConfigError
from jaxrec.metrics import (
    f1,
    hit_rate_at_k,
    hits_from_ranking,
    ndcg_at_k,
    popularity_rate,
    precision_at_k,
    recall_at_k,
)

USERS, K, M = 5, 8, 20  # fixed shapes, so every case reuses one compiled function


@jax.jit
def all_metrics(hits, n_relevant):
    p = precision_at_k(hits, k=5)
    r = recall_at_k(hits, n_relevant, k=5)
    return {
        "precision": p,
        "recall": r,
        "f1": f1(p, r),
        "ndcg": ndcg_at_k(hits, n_relevant, k=5),
        "ndcg_full": ndcg_at_k(hits, n_relevant),
        "hit_rate": hit_rate_at_k(hits, k=5),
    }


def reference(hits_row, n_rel, k):
    """Textbook definitions, one user at a time."""
    top = [bool(h) for h in hits_row[:k]]
    n_hits = sum(top)
    p = n_hits / k
    r = n_hits / n_rel if n_rel > 0 else 0.0
    dcg = sum(1 / math.log2(rank + 1) for rank, h in enumerate(top, start=1) if h)
    idcg = sum(1 / math.log2(rank + 1) for rank in range(1, min(n_rel, k) + 1))
    return {
        "precision": p,
        "recall": r,
        "f1": 2 * p * r / (p + r) if p + r > 0 else 0.0,
        "ndcg": dcg / idcg if idcg > 0 else 0.0,
        "hit_rate": float(n_hits > 0),
    }


hit_patterns = st.tuples(
    st.lists(st.lists(st.booleans(), min_size=K, max_size=K), min_size=USERS, max_size=USERS),
    st.lists(st.integers(0, 12), min_size=USERS, max_size=USERS),
)


@given(hit_patterns)
def test_metrics_match_a_per_user_loop(pattern):
    hits = np.array(pattern[0])
    # a user cannot have more hits than relevant items
    n_relevant = np.maximum(np.array(pattern[1]), hits.sum(axis=1)).astype(np.int32)
    got = {name: np.asarray(v) for name, v in all_metrics(hits, n_relevant).items()}
    for u in range(USERS):
        want = reference(hits[u], int(n_relevant[u]), 5)
        for name, value in want.items():
            assert got[name][u] == pytest.approx(value, abs=1e-6), name
        full = reference(hits[u], int(n_relevant[u]), K)["ndcg"]
        assert got["ndcg_full"][u] == pytest.approx(full, abs=1e-6)


@given(st.integers(1, 12))
def test_ndcg_is_one_for_a_perfect_list(n_relevant):
    hits = np.arange(K) < n_relevant  # all relevant items first
    got = all_metrics(np.tile(hits, (USERS, 1)), np.full(USERS, n_relevant))
    np.testing.assert_allclose(got["ndcg"], 1.0, rtol=1e-6)
    np.testing.assert_allclose(got["ndcg_full"], 1.0, rtol=1e-6)


def test_users_without_relevant_items_score_zero_not_nan():
    got = all_metrics(np.zeros((USERS, K), bool), np.zeros(USERS, np.int32))
    for name, value in got.items():
        np.testing.assert_array_equal(value, 0.0, err_msg=name)
    assert float(f1(0.0, 0.0)) == 0.0


def test_metrics_batch_over_leading_axes_like_vmap():
    rng = np.random.default_rng(0)
    hits = rng.random((3, USERS, K)) < 0.3
    n_relevant = rng.integers(3, 10, size=(3, USERS))
    direct = ndcg_at_k(hits, n_relevant)
    mapped = jax.vmap(jax.vmap(ndcg_at_k))(hits, n_relevant)
    np.testing.assert_allclose(direct, mapped, rtol=1e-6)


def test_hits_from_ranking_matches_a_loop():
    rng = np.random.default_rng(1)
    ranked = np.stack([rng.permutation(M)[:K] for _ in range(USERS)]).astype(np.int32)
    ranked[0, -1] = -1  # padding is never a hit
    relevant = rng.random((USERS, M)) < 0.3
    relevant[0, M - 1] = True  # what index -1 would wrap to
    got = np.asarray(jax.jit(hits_from_ranking)(ranked, relevant))
    want = [[item >= 0 and relevant[u, item] for item in ranked[u]] for u in range(USERS)]
    np.testing.assert_array_equal(got, want)
    # one shared relevance mask broadcasts over users
    shared = np.asarray(hits_from_ranking(ranked, relevant[1]))
    np.testing.assert_array_equal(shared[1], got[1])


def test_popularity_rate_with_mask_and_several_axes():
    rng = np.random.default_rng(2)
    is_head = rng.random((USERS, 4, 3)) < 0.4
    valid = rng.random((USERS, 4, 3)) < 0.8
    got = popularity_rate(is_head, valid, axis=(-2, -1))
    for u in range(USERS):
        assert float(got[u]) == pytest.approx(is_head[u][valid[u]].mean())
    assert float(popularity_rate(jnp.array([True, False, False, True]))) == 0.5
    assert float(popularity_rate(jnp.ones(3, bool), jnp.zeros(3, bool))) == 0.0


def test_cutoff_outside_the_list_is_a_config_error():
    with pytest.raises(ConfigError, match=r"^k:"):
        precision_at_k(np.zeros((2, K), bool), k=K + 1)
    with pytest.raises(ConfigError, match=r"^k:"):
        ndcg_at_k(np.zeros((2, K), bool), np.ones(2), k=0)
