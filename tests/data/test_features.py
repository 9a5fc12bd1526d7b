"""FM feature encoding, alpha/beta statistics, the bucket evaluation, negative sampling and splits."""

from __future__ import annotations

import itertools
from collections import defaultdict

import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

from jaxrec.data.features import (
    bucket_index,
    encode_fields,
    fairness_metrics,
    feature_statistics,
    log_fairness_score,
)
from jaxrec.data.fm_synthetic import synthetic_feature_data
from jaxrec.data.implicit import (
    holdout_split,
    leave_one_out,
    movielens_features,
    sample_matched,
    sample_unobserved,
)
from jaxrec.errors import ConfigError

SIZES = (4, 3, 2)


def small_table(seed=0, n=40):
    rng = np.random.default_rng(seed)
    codes = np.stack([rng.integers(0, size, n) for size in SIZES], axis=1)
    return encode_fields(codes, SIZES)


def test_encode_fields_adds_offsets_and_rejects_out_of_range():
    ids = encode_fields(np.array([[0, 0, 0], [3, 2, 1]]), SIZES)
    np.testing.assert_array_equal(ids, [[0, 4, 7], [3, 6, 8]])
    with pytest.raises(ConfigError, match="codes"):
        encode_fields(np.array([[0, 3, 0]]), SIZES)


def test_alpha_beta_match_a_plain_python_count():
    ids = small_table()
    alpha, beta = feature_statistics(ids, SIZES)
    counts = defaultdict(int)
    partners = defaultdict(set)
    for row in ids.tolist():
        for f, value in enumerate(row):
            counts[value] += 1
            partners[value].update(v for g, v in enumerate(row) if g != f)
    for value in range(sum(SIZES)):
        assert alpha[value] == pytest.approx(counts[value] / len(ids))
        assert beta[value] == len(partners[value])


def reference_auc(labels, scores):
    pos, neg = scores[labels == 1], scores[labels == 0]
    pairs = [(p > q) + 0.5 * (p == q) for p in pos for q in neg]
    return np.mean(pairs) if pairs else 0.5


def test_bucket_auc_std_efgd_match_numpy_reference():
    rng = np.random.default_rng(3)
    n = 203  # not a multiple of 6: bucket sizes differ by one, nothing is dropped
    labels = rng.integers(0, 2, n).astype(np.float32)
    scores = rng.normal(size=n).astype(np.float32) + labels
    key = rng.normal(size=n).astype(np.float32)
    got = fairness_metrics(jnp.asarray(labels), jnp.asarray(scores), jnp.asarray(key))
    order = np.argsort(key, kind="stable")
    buckets = np.array_split(order, 6)
    want_buckets = [reference_auc(labels[b], scores[b]) for b in buckets]
    np.testing.assert_allclose(got["bucket_auc"], want_buckets, atol=1e-5)
    assert sum(len(b) for b in buckets) == n
    np.testing.assert_allclose(got["std"], np.std(want_buckets), atol=1e-5)
    edge = round(0.1 * n)
    low, high = order[:edge], order[-edge:]
    efgd = abs(reference_auc(labels[low], scores[low]) - reference_auc(labels[high], scores[high]))
    np.testing.assert_allclose(got["efgd"], efgd, atol=1e-5)
    np.testing.assert_allclose(got["auc"], reference_auc(labels, scores), atol=1e-5)


def test_bucket_index_ranks_ascending_with_equal_sizes():
    key = jnp.asarray([5.0, 1.0, 3.0, 2.0, 4.0, 0.0, 6.0])
    idx = np.asarray(bucket_index(key, 3))
    np.testing.assert_array_equal(idx, [2, 0, 1, 0, 1, 0, 2])


def test_log_fairness_score_is_log_of_product():
    ids = small_table()
    alpha, beta = feature_statistics(ids, SIZES)
    want = np.log(np.prod(alpha[ids] * beta[ids], axis=1))
    np.testing.assert_allclose(log_fairness_score(ids, alpha, beta), want, rtol=1e-5)


def test_sample_unobserved_never_returns_a_rated_item():
    rng = np.random.default_rng(0)
    obs_users = np.repeat(np.arange(5), 6)
    obs_items = np.concatenate([rng.choice(8, 6, replace=False) for _ in range(5)])
    users = np.repeat(np.arange(5), 50)
    items = sample_unobserved(users, obs_users, obs_items, 8, rng)
    rated = set(zip(obs_users.tolist(), obs_items.tolist(), strict=True))
    assert not any((u, i) in rated for u, i in zip(users.tolist(), items.tolist(), strict=True))
    for user in range(5):  # uniform over the 2 unrated items: 50 draws hit both
        unrated = set(range(8)) - set(obs_items[obs_users == user].tolist())
        assert set(items[users == user].tolist()) == unrated


def test_leave_one_out_latest_to_test_second_to_validation():
    frame = pd.DataFrame(
        {"user": [0, 0, 0, 0, 1, 1], "item": [1, 2, 3, 4, 1, 2], "timestamp": [5, 9, 1, 7, 3, 4]}
    )
    np.testing.assert_array_equal(leave_one_out(frame), [0, 2, 0, 1, 0, 0])


class FakeMovieLens:
    """The fields of MovieLensData that the encoder reads, for 4 users and 6 items."""

    name = "ml-100k"
    n_users, n_items = 4, 6

    def __init__(self):
        rng = np.random.default_rng(0)
        rows = [(u, i, int(rng.integers(1, 6)), int(rng.integers(0, 10**6)))
                for u, i in itertools.product(range(4), range(5)) if (u + i) % 5]  # fmt: skip
        self.ratings = pd.DataFrame(rows, columns=["user", "item", "rating", "timestamp"])
        self.ratings.loc[:, "rating"] = 5  # every rating positive: 4 per user
        self.users = pd.DataFrame({"user": range(4), "gender": ["M", "F", "M", "F"],
                                   "age": [17, 30, 50, 61], "occupation": ["a", "b", "a", "c"],
                                   "zip": ["12345", "T8H1N", "55555", "12000"]})  # fmt: skip
        self.items = pd.DataFrame({"item": range(6), "year": [1995, 1989, -1, 1995, 1972, 1999]})
        self.item_genres = np.zeros((6, 19), bool)
        self.item_genres[[0, 1, 1, 3], [1, 4, 8, 8]] = True


@pytest.mark.parametrize("setting, n_fields", [("item", 4), ("user", 6)])
def test_movielens_features_labels_split_and_fields(setting, n_fields):
    data = FakeMovieLens()
    ds = movielens_features(data, setting=setting, protocol="paper", seed=1)
    assert ds.n_fields == n_fields
    assert len(ds.test) == 2 * 4 and len(ds.valid) == 2 * 4  # one positive + one negative per user
    for split in (ds.train, ds.valid, ds.test):
        assert split.labels.mean() == 0.5
        assert (split.feature_ids >= ds.field_offsets).all()
        assert (split.feature_ids < ds.field_offsets + np.asarray(ds.field_sizes)).all()
    rated = set(zip(data.ratings["user"], data.ratings["item"], strict=True))
    for split in (ds.train, ds.valid, ds.test):
        neg = split.feature_ids[split.labels == 0]
        users, items = neg[:, 0], neg[:, 1] - ds.field_offsets[1]
        assert not any((u, i) in rated for u, i in zip(users, items, strict=True))
    if setting == "item":  # primary genre = first flag set; no flag -> "unknown" (0)
        genre_of_item = ds.train.feature_ids[:, 2] - ds.field_offsets[2]
        item = ds.train.feature_ids[:, 1] - ds.field_offsets[1]
        np.testing.assert_array_equal(genre_of_item, np.array([1, 4, 0, 8, 0, 0])[item])


def test_synthetic_oracle_is_fair_and_skew_makes_rare_buckets():
    ds = synthetic_feature_data(n_samples=6000, seed=0)
    key = log_fairness_score(ds.test.feature_ids, ds.alpha, ds.beta)
    oracle = fairness_metrics(
        jnp.asarray(ds.test.labels), jnp.asarray(ds.oracle_logits["test"]), key
    )
    assert float(oracle["auc"]) > 0.85 and float(oracle["std"]) < 0.03
    counts = np.bincount(ds.train.feature_ids[:, 0], minlength=ds.field_sizes[0])
    assert counts[0] > 20 * max(counts[-1], 1)  # Zipf skew: value 0 common, the tail rare
    uniform = synthetic_feature_data(n_samples=6000, zipf_exponent=0.0, seed=0)
    spread = np.bincount(uniform.train.feature_ids[:, 0], minlength=uniform.field_sizes[0])
    assert spread[:50].sum() < 1.5 * spread[-50:].sum()  # no skew: head and tail equally common


def test_holdout_split_takes_the_latest_fraction_of_each_user():
    rng = np.random.default_rng(0)
    counts = {0: 20, 1: 3, 2: 2, 3: 10}
    frame = pd.DataFrame(
        [(u, i, int(t)) for u, n in counts.items()
         for i, t in enumerate(rng.permutation(1000)[:n])],
        columns=["user", "item", "timestamp"],
    )  # fmt: skip
    split = holdout_split(frame, test_fraction=0.2, valid_fraction=0.1)
    want = {0: (4, 2), 1: (1, 1), 2: (0, 0), 3: (2, 1)}  # (test, valid); user 2 has < 3 rows
    for user, (n_test, n_valid) in want.items():
        mine = frame["user"].to_numpy() == user
        times, codes = frame["timestamp"].to_numpy()[mine], split[mine]
        assert (codes == 2).sum() == n_test and (codes == 1).sum() == n_valid
        order = np.argsort(times)  # latest rows are test, the ones just before validation
        expected = np.r_[
            np.zeros(mine.sum() - n_test - n_valid), np.ones(n_valid), 2 * np.ones(n_test)
        ]
        np.testing.assert_array_equal(codes[order], expected)
    with pytest.raises(ConfigError, match="test_fraction"):
        holdout_split(frame, test_fraction=0.7, valid_fraction=0.4)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matched_negatives_follow_the_positives_popularity(seed):
    rng = np.random.default_rng(seed)
    n_users, n_items, per_user = 40, 400, 30
    popularity = np.exp(2 * rng.normal(size=n_items))  # heavy-tailed, no ties
    observed_users = np.repeat(np.arange(n_users), per_user)
    observed_items = np.concatenate(
        [rng.choice(n_items, per_user, replace=False) for _ in range(n_users)]
    )
    weight = popularity[observed_items]  # positives lean popular, as real positives do
    pos = rng.choice(len(observed_users), 300, p=weight / weight.sum())
    users, positives = observed_users[pos], observed_items[pos]
    negatives = sample_matched(users, positives, observed_users, observed_items, popularity, rng)
    rated = set(zip(observed_users.tolist(), observed_items.tolist(), strict=True))
    assert not any((u, i) in rated for u, i in zip(users.tolist(), negatives.tolist(), strict=True))
    # A negative's popularity lies within the default window (4 ranks) of the positive's in the
    # sorted popularities unless a rated item forced the window to widen (rare here: a user rated
    # 7.5% of the items), and the negatives' popularity quantiles track the positives', far closer
    # than uniform negatives' do.
    ordered = np.sort(popularity)
    first = np.searchsorted(ordered, popularity[positives], side="left")
    last = np.searchsorted(ordered, popularity[positives], side="right") - 1
    low, high = ordered[np.maximum(first - 4, 0)], ordered[np.minimum(last + 4, n_items - 1)]
    assert ((popularity[negatives] >= low) & (popularity[negatives] <= high)).mean() > 0.8
    uniform = sample_unobserved(users, observed_users, observed_items, n_items, rng)
    rank = np.argsort(np.argsort(popularity))
    q = np.linspace(0.1, 0.9, 9)
    target = np.quantile(rank[positives], q)
    matched_err = np.abs(np.quantile(rank[negatives], q) - target).max()
    uniform_err = np.abs(np.quantile(rank[uniform], q) - target).max()
    assert matched_err < 12 < 5 * matched_err < uniform_err


def test_shared_pool_buckets_rank_each_bucket_of_positives_against_all_negatives():
    rng = np.random.default_rng(5)
    n = 241
    labels = (rng.random(n) < 0.3).astype(np.float32)
    scores = (rng.normal(size=n) + labels).astype(np.float32)
    key = rng.normal(size=n).astype(np.float32)
    got = fairness_metrics(jnp.asarray(labels), jnp.asarray(scores), jnp.asarray(key),
                           shared_pool=True)  # fmt: skip
    positives = np.flatnonzero(labels == 1)
    negatives = np.flatnonzero(labels == 0)
    ranked = positives[np.argsort(key[positives], kind="stable")]
    pool = lambda rows: reference_auc(  # noqa: E731
        np.r_[np.ones(len(rows)), np.zeros(len(negatives))], np.r_[scores[rows], scores[negatives]]
    )
    buckets = np.array_split(ranked, 6)
    want = [pool(b) for b in buckets]
    np.testing.assert_allclose(got["bucket_auc"], want, atol=1e-5)
    edge = round(0.1 * len(positives))
    np.testing.assert_allclose(got["efgd"], abs(pool(ranked[:edge]) - pool(ranked[-edge:])),
                               atol=1e-5)  # fmt: skip
    np.testing.assert_allclose(got["auc"], reference_auc(labels, scores), atol=1e-5)


def test_shared_pool_buckets_move_only_with_their_positives():
    # Positives score alike in every bucket; the negatives of common buckets score higher (as
    # common-item negatives do under a popularity-minded model) and the positive rate climbs
    # with the bucket (as uniform negatives cause). Per-sample buckets report a large spread that
    # says nothing about the positives; with the shared pool every bucket's AUC is the same.
    rng = np.random.default_rng(0)
    n = 30_000
    key = rng.random(n)
    labels = rng.random(n) < 0.2 + 0.6 * key
    scores = np.where(labels, rng.normal(1.0, 1.0, n), rng.normal(0.0, 1.0, n) + 1.5 * key)
    args = (jnp.asarray(labels, jnp.float32), jnp.asarray(scores, jnp.float32),
            jnp.asarray(key, jnp.float32))  # fmt: skip
    assert float(fairness_metrics(*args, shared_pool=True)["std"]) < 0.015
    assert float(fairness_metrics(*args)["std"]) > 0.08
