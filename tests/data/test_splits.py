"""FCPO split against a plain per-user loop; popular-group pivot against brute force."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from jaxrec.data.splits import fcpo_split, popular_group_pivot
from jaxrec.errors import ConfigError


def random_ratings(seed: int, n_users: int = 12, n_items: int = 30) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    per_user = rng.integers(1, 25, size=n_users)
    user = np.repeat(rng.permutation(n_users), per_user)
    return pd.DataFrame(
        {
            "user": user,
            "item": rng.integers(0, n_items, size=len(user)),
            "rating": rng.integers(1, 6, size=len(user)),
            # Few distinct timestamps, so ties (kept in table order) are common.
            "timestamp": rng.integers(0, 6, size=len(user)),
        }
    )


def reference_split(ratings: pd.DataFrame, n_initial: int, train_frac: float):
    """Plain Python: per user, sort (timestamp, table position), cut, and count."""
    timelines: dict[int, list[tuple[int, int, int]]] = {}
    for position, (user, item, time) in enumerate(
        zip(ratings["user"], ratings["item"], ratings["timestamp"], strict=True)
    ):
        timelines.setdefault(int(user), []).append((int(time), position, int(item)))
    kept = {}
    for user in sorted(timelines):
        items = [item for _, _, item in sorted(timelines[user])]
        if len(items) < n_initial + 1:
            continue
        rest = items[n_initial:]
        n_train = min(math.floor(round(train_frac * len(rest), 9)), len(rest) - 1)
        kept[user] = (items[:n_initial], rest[:n_train], rest[n_train:])
    return kept


def unpad(rows: np.ndarray, lengths: np.ndarray, pad: int) -> list[list[int]]:
    out = []
    for row, length in zip(rows, lengths, strict=True):
        assert np.all(row[length:] == pad)
        out.append(row[:length].tolist())
    return out


@given(
    seed=st.integers(0, 10_000),
    n_initial=st.integers(0, 6),
    train_frac=st.sampled_from([0.0, 0.5, 0.8, 0.9]),
)
def test_split_matches_per_user_loop(seed, n_initial, train_frac):
    ratings = random_ratings(seed)
    n_items = 30
    split = fcpo_split(ratings, n_initial=n_initial, train_frac=train_frac, n_items=n_items)
    expected = reference_split(ratings, n_initial, train_frac)
    assert split.users.tolist() == list(expected)
    assert sorted(split.dropped_users.tolist() + split.users.tolist()) == sorted(
        set(ratings["user"])
    )
    initial, train, test = (
        (list(parts) for parts in zip(*expected.values(), strict=True))
        if expected
        else ([], [], [])
    )
    n = len(split.users)
    assert unpad(split.initial, np.full(n, n_initial), n_items) == initial
    assert unpad(split.train, split.train_len, n_items) == train
    assert unpad(split.test, split.test_len, n_items) == test
    assert np.all(split.test_len >= 1)
    counts = np.zeros(n_items, np.int64)
    for items in initial + train:
        np.add.at(counts, items, 1)
    np.testing.assert_array_equal(split.train_counts, counts)
    if n:
        membership = split.membership("test")
        assert [np.flatnonzero(m).tolist() for m in membership] == [sorted(set(t)) for t in test]


def test_paper_defaults_on_a_twenty_rating_user():
    ratings = pd.DataFrame(
        {"user": [0] * 20, "item": np.arange(20)[::-1], "timestamp": np.arange(20)[::-1]}
    )
    split = fcpo_split(ratings)
    assert split.initial.tolist() == [[0, 1, 2, 3, 4]]
    assert split.train.tolist() == [list(range(5, 17))]  # floor(0.8 * 15) = 12
    assert split.test.tolist() == [[17, 18, 19]]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"train_frac": 1.0}, "train_frac"),
        ({"n_initial": -1}, "n_initial"),
        ({"n_items": 3}, "ratings.item"),
    ],
)
def test_split_rejects_bad_parameters(kwargs, field):
    with pytest.raises(ConfigError) as info:
        fcpo_split(random_ratings(0), **kwargs)
    assert info.value.field == field


def brute_force_pivot(counts: np.ndarray, head_fraction: float) -> int:
    for pivot in range(int(counts.max()) + 1):
        if np.sum(counts > pivot) < head_fraction * len(counts) - 1e-9:
            return pivot
    raise AssertionError("unreachable: no count exceeds max(counts)")


@given(
    counts=st.lists(st.integers(0, 60), min_size=1, max_size=80),
    head_fraction=st.sampled_from([0.05, 0.1, 0.2, 0.25, 0.5, 1.0]),
)
def test_pivot_matches_brute_force(counts, head_fraction):
    counts = np.asarray(counts, dtype=np.int32)
    pivot, is_head = popular_group_pivot(counts, head_fraction)
    assert int(pivot) == brute_force_pivot(counts, head_fraction)
    np.testing.assert_array_equal(is_head, counts > int(pivot))


def test_pivot_with_exact_fraction_boundary():
    # 15 items, 20% = 3: fewer than 3 may be above the pivot, so the pivot is the 3rd largest count.
    counts = np.array([50, 40, 30, 20, *([1] * 11)])
    pivot, is_head = popular_group_pivot(counts)
    assert int(pivot) == 30 and is_head.sum() == 2
