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

MovieLens ratings become such data (splits, negative sampling, fields) in :mod:`jaxrec.data.implicit`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from jaxrec.errors import ConfigError
from jaxrec.metrics.accuracy import auc

N_BUCKETS = 6
EDGE_FRACTION = 0.1


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
