"""MovieLens ratings as implicit-feedback FM data: positives, recency splits, negative sampling and
the item- and user-centric fields, assembled into a :class:`~jaxrec.data.features.FeatureDataset`.

**MovieLens** (:func:`movielens_features`): ratings ``>= positive_threshold`` are positives. Two
protocols:

- ``"holdout"`` (default): per user, positives sorted by time; the latest ``test_fraction`` (at least
  one) go to test and the ``valid_fraction`` (at least one) just before them to validation (users
  with fewer than 3 positives stay in training). Each training positive gets one negative drawn
  uniformly among the user's unrated items (as the paper trains); each validation / test positive
  gets ``eval_negatives`` negatives of the same user, drawn uniformly or popularity-matched
  (:func:`sample_matched`), never an item the user rated nor one of the user's negatives of an
  earlier split (train, then validation, then test); buckets use the shared negative pool (see
  :mod:`jaxrec.data.features`).
- ``"paper"``: the latest positive per user to test, the second latest to validation, one uniform
  negative per positive everywhere, buckets over all samples (the AAFM paper's setting).

Item-centric fields: user, item, primary genre (the first genre flag set, in the loader's genre
order), release decade. User-centric fields: user, item, gender, age bucket, occupation, zip prefix
(they need demographics: ML-100K and ML-1M have them, the "latest" format does not).
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import numpy as np
import pandas as pd

from jaxrec.data.features import FeatureDataset, build_dataset, encode_fields
from jaxrec.errors import ConfigError

# Lower bounds of the age buckets of ML-1M's users.dat, reused for ML-100K's exact ages.
AGE_BUCKET_BOUNDS: tuple[int, ...] = (18, 25, 35, 45, 50, 56)


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
