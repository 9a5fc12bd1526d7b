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
``|AUC(rarest 10%) - AUC(most common 10%)|``.

**ML-100K** (:func:`ml100k_features`): ratings ``>= positive_threshold`` are positives, each gets
``negatives_per_positive`` items the user never rated, drawn uniformly; per user the latest positive
goes to test and the second latest to validation (users with fewer than 3 positives stay in training);
negatives follow their positive's split. Item-centric fields: user, item, primary genre (the first
genre flag set, in ``u.item`` order), release decade. User-centric fields: user, item, gender, age
bucket, occupation, zip prefix.
"""

from __future__ import annotations

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


def bucket_index(ranking_key: jax.Array, n_buckets: int = N_BUCKETS) -> jax.Array:
    """i32[N]: bucket of each sample when ranked ascending by ``ranking_key`` and cut into
    ``n_buckets`` consecutive groups whose sizes differ by at most one (ties broken by position)."""
    n = ranking_key.shape[-1]
    rank = jnp.argsort(jnp.argsort(ranking_key, stable=True), stable=True)
    return (rank * n_buckets // n).astype(jnp.int32)


def _masked_auc(labels: jax.Array, scores: jax.Array, masks: jax.Array) -> jax.Array:
    """AUC of ``scores`` f32[..., N] within each of the groups ``masks`` bool[G, N]; f32[..., G]."""
    shape = (*scores.shape[:-1], *masks.shape)
    return auc(
        jnp.broadcast_to(labels[..., None, :], shape),
        jnp.broadcast_to(scores[..., None, :], shape),
        weights=jnp.broadcast_to(masks, shape),
    )


def fairness_metrics(
    labels: jax.Array,
    scores: jax.Array,
    ranking_key: jax.Array,
    n_buckets: int = N_BUCKETS,
    edge_fraction: float = EDGE_FRACTION,
) -> dict[str, jax.Array]:
    """Bucket AUCs, their STD and the EFGD of one set of predictions; pure ``jnp``, jit-able.

    Args:
      labels: f32[N] binary labels.
      scores: f32[..., N] scores (leading axes, e.g. seeds, are batched).
      ranking_key: f32[N], e.g. :func:`log_fairness_score`; ascending = rarest first.

    Returns:
      ``{"auc": f32[...], "bucket_auc": f32[..., n_buckets], "std": f32[...], "efgd": f32[...]}``.
    """
    n = ranking_key.shape[-1]
    bucket = bucket_index(ranking_key, n_buckets)
    masks = bucket[None, :] == jnp.arange(n_buckets)[:, None]
    rank = jnp.argsort(jnp.argsort(ranking_key, stable=True), stable=True)
    n_edge = max(1, round(edge_fraction * n))
    edges = jnp.stack([rank < n_edge, rank >= n - n_edge])
    scores = jnp.asarray(scores)
    labels = jnp.broadcast_to(labels, scores.shape)
    bucket_auc = _masked_auc(labels, scores, masks)
    edge_auc = _masked_auc(labels, scores, edges)
    return {
        "auc": auc(labels, scores),
        "bucket_auc": bucket_auc,
        "std": jnp.std(bucket_auc, axis=-1),
        "efgd": jnp.abs(edge_auc[..., 0] - edge_auc[..., 1]),
    }


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
    per_user = np.bincount(observed_users, minlength=int(users.max(initial=0)) + 1)
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


def leave_one_out(ratings: pd.DataFrame) -> np.ndarray:
    """Split label per row of positives: 2 = test (latest per user), 1 = validation (second latest),
    0 = train. Users with fewer than 3 rows keep all of them in train. Ties in time break by item."""
    order = np.lexsort((ratings["item"].to_numpy(), ratings["timestamp"].to_numpy(),
                        ratings["user"].to_numpy()))  # fmt: skip
    users = ratings["user"].to_numpy()[order]
    counts = np.bincount(users)
    ends = np.cumsum(counts)
    from_end = ends[users] - 1 - np.arange(len(users))  # 0 = latest of its user
    split_sorted = np.where(counts[users] >= 3, np.where(from_end < 2, 2 - from_end, 0), 0)
    split = np.empty(len(users), np.int64)
    split[order] = split_sorted
    return split


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


def _user_side_codes(data) -> tuple[list[np.ndarray], list[str], list[int]]:
    users = data.users
    gender = pd.factorize(users["gender"], sort=True)[0]
    age = np.searchsorted(AGE_BUCKET_BOUNDS, users["age"].to_numpy(), side="right")
    occupation = pd.factorize(users["occupation"], sort=True)[0]
    zip_prefix = pd.factorize(users["zip"].astype(str).str[:1], sort=True)[0]
    columns = [gender, age, occupation, zip_prefix]
    sizes = [int(gender.max()) + 1, len(AGE_BUCKET_BOUNDS) + 1, int(occupation.max()) + 1,
             int(zip_prefix.max()) + 1]  # fmt: skip
    return columns, ["gender", "age", "occupation", "zip_prefix"], sizes


def ml100k_features(
    data,
    setting: Literal["item", "user"] = "item",
    positive_threshold: int = 4,
    negatives_per_positive: int = 1,
    seed: int = 0,
) -> FeatureDataset:
    """Implicit-feedback FM dataset from a :class:`~jaxrec.data.movielens.MovieLensData`.

    See the module docstring for labels, negative sampling, the split and the two feature sets.
    Negatives are drawn with ``numpy.random.default_rng(seed)``.
    """
    if setting not in ("item", "user"):
        raise ConfigError("setting", f"expected 'item' or 'user', got {setting!r}")
    if negatives_per_positive < 1:
        raise ConfigError("negatives_per_positive", f"must be >= 1, got {negatives_per_positive}")
    ratings = data.ratings
    positives = ratings[ratings["rating"] >= positive_threshold].reset_index(drop=True)
    if positives.empty:
        raise ConfigError("positive_threshold", f"no rating is >= {positive_threshold}")
    split = leave_one_out(positives)
    rng = np.random.default_rng(seed)
    pos_users = positives["user"].to_numpy()
    neg_users = np.repeat(pos_users, negatives_per_positive)
    neg_items = sample_unobserved(
        neg_users, ratings["user"].to_numpy(), ratings["item"].to_numpy(), data.n_items, rng
    )
    users = np.concatenate([pos_users, neg_users])
    items = np.concatenate([positives["item"].to_numpy(), neg_items])
    labels = np.concatenate([np.ones(len(pos_users)), np.zeros(len(neg_users))]).astype(np.float32)
    split = np.concatenate([split, np.repeat(split, negatives_per_positive)])

    if setting == "item":
        side, side_names, side_sizes = _item_side_codes(data)
        side_columns = [column[items] for column in side]
    else:
        side, side_names, side_sizes = _user_side_codes(data)
        side_columns = [column[users] for column in side]
    sizes = [data.n_users, data.n_items, *side_sizes]
    ids = encode_fields(np.stack([users, items, *side_columns], axis=1), sizes)
    return build_dataset(
        f"{data.name}-{setting}", ("user", "item", *side_names), sizes, ids, labels, split
    )


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
