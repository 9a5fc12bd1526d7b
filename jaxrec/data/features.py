"""Categorical feature data for factorization machines, and the feature-fairness evaluation.

**Encoding.** A sample is one categorical value per field (user id, item id, genre, ...). Field ``f``
owns rows ``offset_f .. offset_f + size_f - 1`` of a single embedding table, so a sample is stored as
``F`` global row ids (``feature_ids`` i32[N, F]) and every model reads one table.

**Feature statistics** (AAFM paper, "feature fairness"), per value ``v`` of field ``i``, from training
data only:
- frequency ``alpha_v`` = occurrences of ``v`` / number of training samples (its rate in its field);
- combination variety ``beta_v`` = number of distinct values of the *other* fields that co-occur with
  ``v`` in some training sample (summed over the other fields).

**Evaluation.** Test samples are ranked by ``prod_f alpha_f * beta_f`` (ascending: bucket 0 holds the
rarest combinations) and cut into 6 buckets of (almost) equal size — every sample lands in exactly one
bucket, none is dropped. ``STD`` is the standard deviation (ddof 0) of the bucket AUCs; ``EFGD`` is
``|AUC(rarest 10%) - AUC(most common 10%)|``. With a **shared negative pool** (the holdout protocol)
only the positives are ranked and bucketed, and every bucket's positives are ranked against all the
split's negatives: a bucket's AUC then cannot move with its share of positives (with per-sample
buckets, uniform negatives — mostly rare items — pile into the rare buckets and confound bucket
with label).

**MovieLens** (:func:`movielens_features`): ratings ``>= positive_threshold`` are positives. Two
protocols:

- ``"holdout"`` (default): per user, positives sorted by time; the latest ``test_fraction`` (at least
  one) go to test and the ``valid_fraction`` (at least one) just before them to validation (users
  with fewer than 3 positives stay in training). Each training positive gets one negative drawn
  uniformly among the user's unrated items (as the paper trains); each validation / test positive
  gets ``eval_negatives`` negatives of the same user, drawn uniformly or popularity-matched
  (:func:`sample_matched`), never an item the user rated nor one of the user's negatives of an
  earlier split (train, then validation, then test); buckets use the shared negative pool.
- ``"paper"``: the latest positive per user to test, the second latest to validation, one uniform
  negative per positive everywhere, buckets over all samples (the AAFM paper's setting).

Item-centric fields: user, item, primary genre (the first genre flag set, in the loader's genre
order), release decade. User-centric fields: user, item, gender, age bucket, occupation, zip prefix
(they need demographics: ML-100K and ML-1M have them, the "latest" format does not).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from jaxrec.errors import ConfigError
from jaxrec.metrics.accuracy import auc

N_BUCKETS = 6
EDGE_FRACTION = 0.1
# Lower bounds of the age buckets of ML-1M's users.dat, reused for ML-100K's exact ages.
AGE_BUCKET_BOUNDS: tuple[int, ...] = (18, 25, 35, 45, 50, 56)


@dataclass(frozen=True, eq=False)
class FeatureSplit:
    """Samples of one split: ``feature_ids`` i32[N, F] global row ids, ``labels`` f32[N] in {0, 1}."""

    feature_ids: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True, eq=False)
class FeatureDataset:
    """Train/validation/test samples over ``F`` categorical fields sharing one embedding table.

    Attributes:
      name: a label for tables and plots.
      field_names: the ``F`` field names.
      field_sizes: number of values of each field; the table has ``sum(field_sizes)`` rows.
      train, valid, test: the splits.
      alpha: f32[n_features], frequency of each value in training data (0 when unseen).
      beta: f32[n_features], combination variety of each value in training data (0 when unseen).
      oracle_logits: optional dict split name -> f32[N], the true logits where the data is synthetic.
      shared_pool: evaluate buckets as positives against the split's shared negative pool (see the
        module docstring) instead of bucketing every sample.
    """

    name: str
    field_names: tuple[str, ...]
    field_sizes: tuple[int, ...]
    train: FeatureSplit
    valid: FeatureSplit
    test: FeatureSplit
    alpha: np.ndarray
    beta: np.ndarray
    oracle_logits: dict[str, np.ndarray] | None = None
    shared_pool: bool = False

    @property
    def n_fields(self) -> int:
        return len(self.field_sizes)

    @property
    def n_features(self) -> int:
        return int(sum(self.field_sizes))

    @property
    def field_offsets(self) -> np.ndarray:
        return field_offsets(self.field_sizes)

    @property
    def field_of_feature(self) -> np.ndarray:
        """i32[n_features], the field index of each table row."""
        return np.repeat(np.arange(self.n_fields, dtype=np.int32), self.field_sizes)


def field_offsets(field_sizes: Sequence[int]) -> np.ndarray:
    """i32[F], the first table row of each field: ``[0, size_0, size_0 + size_1, ...]``."""
    return np.concatenate([[0], np.cumsum(field_sizes)[:-1]]).astype(np.int32)


def encode_fields(codes: np.ndarray, field_sizes: Sequence[int]) -> np.ndarray:
    """Turn per-field local codes int[N, F] (each in ``0 .. size_f - 1``) into global row ids i32[N, F]."""
    codes = np.asarray(codes)
    sizes = np.asarray(field_sizes)
    if codes.ndim != 2 or codes.shape[1] != len(sizes):
        raise ConfigError("codes", f"expected shape [N, {len(sizes)}], got {codes.shape}")
    if codes.size and ((codes < 0).any() or (codes >= sizes).any()):
        bad = int(np.argmax(((codes < 0) | (codes >= sizes)).any(axis=0)))
        raise ConfigError("codes", f"field {bad} has a code outside 0..{sizes[bad] - 1}")
    return (codes + field_offsets(field_sizes)).astype(np.int32)


def feature_statistics(
    feature_ids: np.ndarray, field_sizes: Sequence[int]
) -> tuple[np.ndarray, np.ndarray]:
    """Frequency ``alpha`` and combination variety ``beta`` of every table row (see module doc).

    Args:
      feature_ids: i32[N, F] global row ids of the training samples.
      field_sizes: the ``F`` field sizes.

    Returns:
      ``(alpha, beta)``, both f32[n_features]; 0 for values that never occur.
    """
    feature_ids = np.asarray(feature_ids, np.int64)
    n_features = int(sum(field_sizes))
    n_samples, n_fields = feature_ids.shape
    counts = np.bincount(feature_ids.ravel(), minlength=n_features)
    alpha = counts / max(n_samples, 1)
    beta = np.zeros(n_features, np.int64)
    for f in range(n_fields):
        for g in range(n_fields):
            if f == g:
                continue
            pairs = np.unique(feature_ids[:, f] * n_features + feature_ids[:, g])
            beta += np.bincount(pairs // n_features, minlength=n_features)
    return alpha.astype(np.float32), beta.astype(np.float32)


def log_fairness_score(feature_ids: jax.Array, alpha: jax.Array, beta: jax.Array) -> jax.Array:
    """``log prod_f alpha_f * beta_f`` per sample, f32[N] — the ranking key of the bucket evaluation.

    The log keeps products of many small frequencies from underflowing; unseen values give ``-inf``
    (the rarest possible).
    """
    per_value = jnp.log(jnp.asarray(alpha) * jnp.asarray(beta))
    return per_value[jnp.asarray(feature_ids)].sum(axis=-1)


def _ascending_rank(key: jax.Array) -> jax.Array:
    """i32[N]: position of each entry when ``key`` is sorted ascending (ties broken by position)."""
    return jnp.argsort(jnp.argsort(key, stable=True), stable=True)


def bucket_index(ranking_key: jax.Array, n_buckets: int = N_BUCKETS) -> jax.Array:
    """i32[N]: bucket of each sample when ranked ascending by ``ranking_key`` and cut into
    ``n_buckets`` consecutive groups whose sizes differ by at most one (ties broken by position)."""
    n = ranking_key.shape[-1]
    return (_ascending_rank(ranking_key) * n_buckets // n).astype(jnp.int32)


def evaluation_groups(
    labels: jax.Array,
    ranking_key: jax.Array,
    n_buckets: int = N_BUCKETS,
    edge_fraction: float = EDGE_FRACTION,
    shared_pool: bool = False,
) -> jax.Array:
    """bool[n_buckets + 2, N]: the samples of each bucket, then of the rarest and the most common edge.

    Without ``shared_pool`` every sample is ranked by ``ranking_key`` f32[N] and lands in one bucket.
    With it only the positives are ranked and cut (the rarest ``edge_fraction`` of the positives form
    the first edge) and every negative belongs to every group, so all groups share one negative pool.
    """
    if shared_pool:
        ranked = labels > 0.5
        n = jnp.sum(ranked)
        rank = _ascending_rank(jnp.where(ranked, ranking_key, jnp.inf))
    else:
        ranked = jnp.ones(ranking_key.shape, bool)
        n = ranking_key.shape[-1]
        rank = _ascending_rank(ranking_key)
    n_edge = jnp.maximum(1, jnp.round(edge_fraction * n)).astype(jnp.int32)
    bucket = rank * n_buckets // jnp.maximum(n, 1)
    groups = jnp.concatenate(
        [
            bucket[None, :] == jnp.arange(n_buckets)[:, None],
            (rank < n_edge)[None, :],
            ((rank >= n - n_edge) & ranked)[None, :],
        ]
    )
    return (groups & ranked) | ~ranked


def group_summary(overall_auc: jax.Array, group_auc: jax.Array) -> dict[str, jax.Array]:
    """``auc``, ``bucket_auc``, ``std`` and ``efgd`` from the AUCs f32[..., n_buckets + 2] of the
    groups of :func:`evaluation_groups`."""
    bucket_auc = group_auc[..., :-2]
    return {
        "auc": overall_auc,
        "bucket_auc": bucket_auc,
        "std": jnp.std(bucket_auc, axis=-1),
        "efgd": jnp.abs(group_auc[..., -2] - group_auc[..., -1]),
    }


def fairness_metrics(
    labels: jax.Array,
    scores: jax.Array,
    ranking_key: jax.Array,
    n_buckets: int = N_BUCKETS,
    edge_fraction: float = EDGE_FRACTION,
    shared_pool: bool = False,
) -> dict[str, jax.Array]:
    """Bucket AUCs, their STD and the EFGD of one set of predictions; pure ``jnp``, jit-able.

    Args:
      labels: f32[N] binary labels.
      scores: f32[..., N] scores (leading axes, e.g. seeds, are batched).
      ranking_key: f32[N], e.g. :func:`log_fairness_score`; ascending = rarest first.
      shared_pool: see :func:`evaluation_groups`.

    Returns:
      ``{"auc": f32[...], "bucket_auc": f32[..., n_buckets], "std": f32[...], "efgd": f32[...]}``.
    """
    groups = evaluation_groups(labels, ranking_key, n_buckets, edge_fraction, shared_pool)
    scores = jnp.asarray(scores)
    labels = jnp.broadcast_to(labels, scores.shape)
    shape = (*scores.shape[:-1], *groups.shape)
    group_auc = auc(
        jnp.broadcast_to(labels[..., None, :], shape),
        jnp.broadcast_to(scores[..., None, :], shape),
        weights=jnp.broadcast_to(groups, shape),
    )
    return group_summary(auc(labels, scores), group_auc)


# --------------------------------------------------------------------------------------------------
# Implicit feedback from ratings: positives, negative sampling, leave-one-out split
# --------------------------------------------------------------------------------------------------


def sample_unobserved(
    users: np.ndarray,
    observed_users: np.ndarray,
    observed_items: np.ndarray,
    n_items: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """For each entry of ``users``, one item drawn uniformly among the items that user never rated.

    Rejection sampling, vectorised: redraw only the collisions until none is left.
    """
    observed = np.unique(observed_users.astype(np.int64) * n_items + observed_items)
    per_user = np.bincount(observed // n_items, minlength=int(users.max(initial=0)) + 1)
    if users.size and (per_user[users] >= n_items).any():
        raise ConfigError(
            "negatives_per_positive", "a user has rated every item; no negative exists"
        )
    items = rng.integers(0, n_items, size=len(users))
    todo = np.arange(len(users))
    while todo.size:
        keys = users[todo].astype(np.int64) * n_items + items[todo]
        hit = np.isin(keys, observed, assume_unique=False)
        todo = todo[hit]
        items[todo] = rng.integers(0, n_items, size=todo.size)
    return items


def sample_matched(
    users: np.ndarray,
    positive_items: np.ndarray,
    observed_users: np.ndarray,
    observed_items: np.ndarray,
    popularity: np.ndarray,
    rng: np.random.Generator,
    window: int | None = None,
) -> np.ndarray:
    """For each ``(users[k], positive_items[k])``, an item of about the positive's popularity that the
    user never rated (popularity-matched negative sampling).

    Items are ranked by ``popularity`` f32[I] (ties in random order); a draw takes a rank uniformly
    within ``window`` ranks of the positive's (default 1% of the catalogue, at least 2), excluding
    itself and cut at the ends of the ranking, and redraws with a doubled window (up to the whole
    catalogue) for that sample while the item is rated by the user or is a positive. So the
    negatives' popularity follows the positives' to within the window.
    """
    n_items = len(popularity)
    observed = np.unique(observed_users.astype(np.int64) * n_items + observed_items)
    per_user = np.bincount(observed // n_items, minlength=int(users.max(initial=0)) + 1)
    if users.size and (per_user[users] >= n_items).any():
        raise ConfigError("eval_negatives", "a user has rated every item; no negative exists")
    by_rank = np.lexsort((rng.random(n_items), popularity))  # item at each popularity rank
    rank_of = np.empty(n_items, np.int64)
    rank_of[by_rank] = np.arange(n_items)
    centre = rank_of[positive_items]
    half = np.full(len(users), max(2, round(0.01 * n_items)) if window is None else window)
    items = np.empty(len(users), np.int64)
    todo = np.arange(len(users))
    while todo.size:
        low = np.maximum(centre[todo] - half[todo], 0)
        high = np.minimum(centre[todo] + half[todo], n_items - 1)  # window without the centre
        rank = rng.integers(low, high)
        items[todo] = by_rank[rank + (rank >= centre[todo])]
        keys = users[todo].astype(np.int64) * n_items + items[todo]
        bad = np.isin(keys, observed) | (items[todo] == positive_items[todo])
        todo = todo[bad]
        half[todo] = np.minimum(2 * half[todo], n_items)
    return items


def _recency_split(ratings: pd.DataFrame, n_test: np.ndarray, n_valid: np.ndarray) -> np.ndarray:
    """Split code per row (2 test, 1 validation, 0 train): per user, the latest ``n_test[count]`` rows
    to test and the ``n_valid[count]`` before them to validation, ``count`` = the user's rows.
    Users with fewer than 3 rows keep all of them in train. Ties in time break by item."""
    order = np.lexsort((ratings["item"].to_numpy(), ratings["timestamp"].to_numpy(),
                        ratings["user"].to_numpy()))  # fmt: skip
    users = ratings["user"].to_numpy()[order]
    counts = np.bincount(users)
    ends = np.cumsum(counts)
    from_end = ends[users] - 1 - np.arange(len(users))  # 0 = latest of its user
    count = counts[users]
    test, valid = n_test[count], n_valid[count]
    split_sorted = np.where(from_end < test, 2, np.where(from_end < test + valid, 1, 0))
    split_sorted = np.where(count >= 3, split_sorted, 0)
    split = np.empty(len(users), np.int64)
    split[order] = split_sorted
    return split


def leave_one_out(ratings: pd.DataFrame) -> np.ndarray:
    """Split label per row of positives: 2 = test (latest per user), 1 = validation (second latest),
    0 = train. Users with fewer than 3 rows keep all of them in train. Ties in time break by item."""
    ones = np.ones(np.bincount(ratings["user"].to_numpy()).max(initial=0) + 1, np.int64)
    return _recency_split(ratings, ones, ones)


def holdout_split(
    ratings: pd.DataFrame, test_fraction: float = 0.2, valid_fraction: float = 0.1
) -> np.ndarray:
    """As :func:`leave_one_out`, but a user with ``n >= 3`` rows gives its latest
    ``max(1, round(test_fraction n))`` to test and the ``max(1, round(valid_fraction n))`` before
    them to validation (at least one row stays in training)."""
    for name, value in (("test_fraction", test_fraction), ("valid_fraction", valid_fraction)):
        if not 0 < value < 1:
            raise ConfigError(name, f"must be in (0, 1), got {value}")
    if test_fraction + valid_fraction >= 1:
        raise ConfigError("test_fraction", "test_fraction + valid_fraction must be < 1")
    n = np.arange(np.bincount(ratings["user"].to_numpy()).max(initial=0) + 1)
    n_test = np.maximum(1, np.round(test_fraction * n)).astype(np.int64)
    n_valid = np.maximum(1, np.round(valid_fraction * n)).astype(np.int64)
    n_valid = np.minimum(n_valid, np.maximum(n - n_test - 1, 1))  # keep a training row
    return _recency_split(ratings, n_test, n_valid)


def _decade_codes(years: np.ndarray) -> tuple[np.ndarray, int]:
    """Release decade as a code; unknown years (-1) get their own code 0."""
    decades = np.where(years >= 0, years // 10, -1)
    _, codes = np.unique(decades, return_inverse=True)
    if not (decades < 0).any():
        codes = codes + 1
    return codes, int(codes.max()) + 1


def _item_side_codes(data) -> tuple[list[np.ndarray], list[str], list[int]]:
    genres = np.asarray(data.item_genres, bool)
    primary = np.where(genres.any(axis=1), genres.argmax(axis=1), 0)
    decade, n_decades = _decade_codes(data.items["year"].to_numpy())
    return [primary, decade], ["genre", "decade"], [genres.shape[1], n_decades]


USER_DEMOGRAPHICS = ("gender", "age", "occupation", "zip")


def _user_side_codes(data) -> tuple[list[np.ndarray], list[str], list[int]]:
    users = data.users
    missing = [column for column in USER_DEMOGRAPHICS if column not in users.columns]
    if missing:
        raise ConfigError(
            "setting",
            f"the user-centric setting needs user demographics ({', '.join(USER_DEMOGRAPHICS)}); "
            f"{data.name} has no {', '.join(missing)}: use the item-centric setting (--setting item)",
        )
    gender = pd.factorize(users["gender"], sort=True)[0]
    age = np.searchsorted(AGE_BUCKET_BOUNDS, users["age"].to_numpy(), side="right")
    occupation = pd.factorize(users["occupation"], sort=True)[0]
    zip_prefix = pd.factorize(users["zip"].astype(str).str[:1], sort=True)[0]
    columns = [gender, age, occupation, zip_prefix]
    sizes = [int(gender.max()) + 1, len(AGE_BUCKET_BOUNDS) + 1, int(occupation.max()) + 1,
             int(zip_prefix.max()) + 1]  # fmt: skip
    return columns, ["gender", "age", "occupation", "zip_prefix"], sizes


PROTOCOLS = ("holdout", "paper")
NEGATIVE_SAMPLERS = ("uniform", "matched")


def movielens_features(
    data,
    setting: Literal["item", "user"] = "item",
    protocol: Literal["holdout", "paper"] = "holdout",
    positive_threshold: float = 4.0,
    test_fraction: float = 0.2,
    valid_fraction: float = 0.1,
    eval_negatives: int = 4,
    negatives: Literal["uniform", "matched"] = "uniform",
    seed: int = 0,
) -> FeatureDataset:
    """Implicit-feedback FM dataset from a :class:`~jaxrec.data.movielens.MovieLensData`.

    See the module docstring for labels, the two protocols, negative sampling and the feature sets
    (``test_fraction``, ``valid_fraction``, ``eval_negatives`` and ``negatives`` apply to the
    holdout protocol only). Matched negatives follow the items' training-positive counts. All draws
    use ``numpy.random.default_rng(seed)``.
    """
    if setting not in ("item", "user"):
        raise ConfigError("setting", f"expected 'item' or 'user', got {setting!r}")
    if protocol not in PROTOCOLS:
        raise ConfigError("protocol", f"expected one of {', '.join(PROTOCOLS)}, got {protocol!r}")
    if negatives not in NEGATIVE_SAMPLERS:
        raise ConfigError("negatives", f"expected 'uniform' or 'matched', got {negatives!r}")
    if eval_negatives < 1:
        raise ConfigError("eval_negatives", f"must be >= 1, got {eval_negatives}")
    side, side_names, side_sizes = (_item_side_codes if setting == "item" else _user_side_codes)(
        data
    )
    ratings = data.ratings
    positives = ratings[ratings["rating"] >= positive_threshold].reset_index(drop=True)
    if positives.empty:
        raise ConfigError("positive_threshold", f"no rating is >= {positive_threshold}")
    paper = protocol == "paper"
    pos_split = (
        leave_one_out(positives)
        if paper
        else holdout_split(positives, test_fraction, valid_fraction)
    )
    rng = np.random.default_rng(seed)
    pos_users, pos_items = positives["user"].to_numpy(), positives["item"].to_numpy()
    popularity = np.bincount(pos_items[pos_split == 0], minlength=data.n_items)
    seen_users, seen_items = ratings["user"].to_numpy(), ratings["item"].to_numpy()
    users, items, labels, split = [pos_users], [pos_items], [np.ones(len(pos_users))], [pos_split]
    for code in range(3):  # train, validation, test: holdout's later draws avoid earlier negatives
        chosen = np.flatnonzero(pos_split == code)
        per_positive = 1 if paper or code == 0 else eval_negatives
        neg_users = np.repeat(pos_users[chosen], per_positive)
        if code > 0 and negatives == "matched" and not paper:
            neg_items = sample_matched(neg_users, np.repeat(pos_items[chosen], per_positive),
                                       seen_users, seen_items, popularity, rng)  # fmt: skip
        else:
            neg_items = sample_unobserved(neg_users, seen_users, seen_items, data.n_items, rng)
        if not paper:
            seen_users = np.concatenate([seen_users, neg_users])
            seen_items = np.concatenate([seen_items, neg_items])
        users.append(neg_users)
        items.append(neg_items)
        labels.append(np.zeros(len(neg_users)))
        split.append(np.full(len(neg_users), code))
    users, items = np.concatenate(users), np.concatenate(items)
    owner = items if setting == "item" else users
    sizes = [data.n_users, data.n_items, *side_sizes]
    ids = encode_fields(np.stack([users, items, *(c[owner] for c in side)], axis=1), sizes)
    dataset = build_dataset(
        f"{data.name}-{setting}", ("user", "item", *side_names), sizes, ids,
        np.concatenate(labels).astype(np.float32), np.concatenate(split),
    )  # fmt: skip
    return dataclasses.replace(dataset, shared_pool=not paper)


def build_dataset(
    name: str,
    field_names: Sequence[str],
    field_sizes: Sequence[int],
    feature_ids: np.ndarray,
    labels: np.ndarray,
    split: np.ndarray,
    oracle_logits: np.ndarray | None = None,
) -> FeatureDataset:
    """Assemble a :class:`FeatureDataset` from all samples and a split code per sample
    (0 train, 1 validation, 2 test); alpha and beta come from the training rows."""
    parts = [np.flatnonzero(split == code) for code in range(3)]
    if any(part.size == 0 for part in parts):
        raise ConfigError("split", "train, validation and test must each hold samples")
    alpha, beta = feature_statistics(feature_ids[parts[0]], field_sizes)
    splits = [FeatureSplit(feature_ids[p].astype(np.int32), labels[p].astype(np.float32))
              for p in parts]  # fmt: skip
    oracle = None
    if oracle_logits is not None:
        oracle = {
            key: oracle_logits[p] for key, p in zip(("train", "valid", "test"), parts, strict=True)
        }
    return FeatureDataset(
        name, tuple(field_names), tuple(int(s) for s in field_sizes), *splits, alpha, beta, oracle
    )
