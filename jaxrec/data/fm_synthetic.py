"""Synthetic categorical data where a factorization machine's feature unfairness is known by construction.

Each field's values are drawn from a Zipf law, ``P(value r) ∝ (r + 1)^-zipf_exponent``, so a few values
are common and a long tail is rare; rare values also meet few distinct partners, so the samples that
combine them sit at the bottom of the ``prod alpha * beta`` ranking of :mod:`jaxrec.data.features`.
Labels come from a *true* FM with random ``true_dim``-dimensional embeddings of the same scale for
every value:

    z = standardise(sum_{f<g} <u_f, u_g>),   y ~ Bernoulli(sigmoid(signal * z)).

Because the true embeddings of rare and common values are identically distributed, the oracle
(``oracle_logits``, stored on the dataset) is as accurate on rare buckets as on common ones; whatever
AUC gap a trained model shows between buckets is caused by how little data the rare combinations
have — exactly the unfairness AAFM targets. ``zipf_exponent`` controls how rare the tail is
(0 = uniform, no unfairness by construction).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from jaxrec.data.features import FeatureDataset, build_dataset, encode_fields
from jaxrec.errors import ConfigError

FIELD_SIZES = (300, 400, 30, 12)  # values per field of the default synthetic data


def synthetic_feature_data(
    n_samples: int = 20_000,
    field_sizes: Sequence[int] = FIELD_SIZES,
    zipf_exponent: float = 1.0,
    true_dim: int = 8,
    signal: float = 3.0,
    valid_fraction: float = 0.1,
    test_fraction: float = 0.2,
    seed: int = 0,
) -> FeatureDataset:
    """Draw a synthetic :class:`~jaxrec.data.features.FeatureDataset` (see the module docstring).

    Args:
      n_samples: total samples before the random train/validation/test split.
      field_sizes: number of values of each field (fields are named ``f0, f1, ...``).
      zipf_exponent: skew of every field's value distribution; larger = rarer tail.
      true_dim: dimension of the true embeddings.
      signal: logit scale of the true model; larger = less label noise.
      valid_fraction, test_fraction: shares of the samples in validation and test.
      seed: seed of ``numpy.random.default_rng``.
    """
    if len(field_sizes) < 2 or min(field_sizes) < 1:
        raise ConfigError("field_sizes", f"need at least 2 fields of size >= 1, got {field_sizes}")
    if zipf_exponent < 0:
        raise ConfigError("zipf_exponent", f"must be >= 0, got {zipf_exponent}")
    if not (0 < valid_fraction and 0 < test_fraction and valid_fraction + test_fraction < 1):
        raise ConfigError("test_fraction", "validation and test fractions must be > 0 and sum < 1")
    rng = np.random.default_rng(seed)
    codes = np.empty((n_samples, len(field_sizes)), np.int64)
    for f, size in enumerate(field_sizes):
        weights = (np.arange(size) + 1.0) ** -zipf_exponent
        codes[:, f] = rng.choice(size, size=n_samples, p=weights / weights.sum())
    ids = encode_fields(codes, field_sizes)

    true_embeddings = rng.normal(size=(int(sum(field_sizes)), true_dim)) / np.sqrt(true_dim)
    gathered = true_embeddings[ids]
    pairwise = 0.5 * (np.square(gathered.sum(axis=1)) - np.square(gathered).sum(axis=1)).sum(axis=1)
    logits = signal * (pairwise - pairwise.mean()) / pairwise.std()
    labels = (rng.random(n_samples) < 1.0 / (1.0 + np.exp(-logits))).astype(np.float32)

    split = np.zeros(n_samples, np.int64)
    order = rng.permutation(n_samples)
    n_valid, n_test = int(valid_fraction * n_samples), int(test_fraction * n_samples)
    split[order[:n_valid]] = 1
    split[order[n_valid : n_valid + n_test]] = 2
    names = tuple(f"f{f}" for f in range(len(field_sizes)))
    return build_dataset(
        "synthetic", names, field_sizes, ids, labels, split, logits.astype(np.float32)
    )
