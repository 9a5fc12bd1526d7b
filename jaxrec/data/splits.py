"""The FCPO paper's chronological split and its popular-group pivot (docs/algorithms.md §1).

Ge et al. 2021, "Towards Long-term Fairness in Recommendation" (WSDM), evaluate on MovieLens-100K as
follows: every rating (1-5) counts as a positive interaction; per user, ratings are sorted by time; the
first ``n_initial = 5`` items form the initial state, and the rest is split 80/20 chronologically into a
training history and a held-out test history. The popular group G0 is the set of items with more than
``pivot`` training interactions, for the smallest integer ``pivot`` that leaves fewer than 20% of items
in G0 (the paper reports pivot 77 on ML-100K).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from jaxrec.errors import ConfigError


@dataclass(frozen=True, eq=False)
class FCPOSplit:
    """Per-user chronological histories as padded arrays, ready for ``jnp.asarray``.

    ``U`` users are kept (those with at least ``n_initial + 1`` ratings), in increasing user id.
    Histories are in time order, padded on the right with ``pad = n_items``: an out-of-range id, so
    ``.at[...].set(..., mode="drop")`` ignores padding and a padded gather is caught by
    ``mode="fill"`` (a negative pad would silently wrap to the last item).

    Attributes:
      users: i32[U] user ids (as in the ratings table) of the kept users.
      initial: i32[U, n_initial] the first ``n_initial`` items of each user (the initial state).
      train: i32[U, Lt] training history, ``train_len[u]`` valid entries then padding.
      train_len: i32[U].
      test: i32[U, Ls] held-out test history, ``test_len[u]`` valid entries (always >= 1).
      test_len: i32[U].
      train_counts: i64[n_items] interactions per item in the initial states and training
        histories (everything except the held-out test), e.g. for :func:`popular_group_pivot`.
      dropped_users: i32[...] user ids with fewer than ``n_initial + 1`` ratings (no test item).
      n_items: catalogue size (also the pad value).
    """

    users: np.ndarray
    initial: np.ndarray
    train: np.ndarray
    train_len: np.ndarray
    test: np.ndarray
    test_len: np.ndarray
    train_counts: np.ndarray
    dropped_users: np.ndarray
    n_items: int

    @property
    def pad(self) -> int:
        return self.n_items

    def membership(self, history: str) -> np.ndarray:
        """bool[U, n_items]: whether each item is in a user's ``"initial"``, ``"train"`` or ``"test"``."""
        items = {"initial": self.initial, "train": self.train, "test": self.test}[history]
        mask = np.zeros((len(self.users), self.n_items + 1), dtype=bool)
        mask[np.arange(len(self.users))[:, None], items] = True
        return mask[:, : self.n_items]


def fcpo_split(
    ratings: pd.DataFrame,
    n_initial: int = 5,
    train_frac: float = 0.8,
    n_items: int | None = None,
) -> FCPOSplit:
    """Split each user's ratings chronologically into initial state, training and test histories.

    Per user: ratings sorted by ``timestamp`` (ties keep table order); the first ``n_initial`` items
    are the initial state; of the remaining ``R`` items the first ``floor(train_frac * R)`` are the
    training history and the rest (at least one) the held-out test history. Users with fewer than
    ``n_initial + 1`` ratings cannot be tested and are dropped (listed in ``dropped_users``; none in
    ML-100K or ML-1M, where every user has >= 20 ratings). All ratings count as positives, whatever
    their value.

    Args:
      ratings: a table with integer columns ``user``, ``item``, ``timestamp`` (e.g.
        ``MovieLensData.ratings``), item ids in ``[0, n_items)``.
      n_initial: length of the initial state (5 in the paper).
      train_frac: share of the remaining items used for training, in [0, 1) (0.8 in the paper).
      n_items: catalogue size; defaults to ``max(item) + 1``.

    Raises:
      ConfigError: a missing column, an item id out of range, or an out-of-range parameter.
    """
    for column in ("user", "item", "timestamp"):
        if column not in ratings.columns:
            raise ConfigError("ratings", f"missing column {column!r}")
    if isinstance(n_initial, bool) or not isinstance(n_initial, int) or n_initial < 0:
        raise ConfigError("n_initial", f"must be an integer >= 0, got {n_initial!r}")
    if not 0 <= train_frac < 1:
        raise ConfigError(
            "train_frac", f"must be in [0, 1) so a test item remains, got {train_frac}"
        )
    user = ratings["user"].to_numpy(np.int64)
    item = ratings["item"].to_numpy(np.int64)
    time = ratings["timestamp"].to_numpy(np.int64)
    if n_items is None:
        n_items = int(item.max()) + 1 if item.size else 0
    if item.size and (item.min() < 0 or item.max() >= n_items):
        raise ConfigError("ratings.item", f"item ids must lie in [0, {n_items})")

    order = np.lexsort((np.arange(len(user)), time, user))
    user, item = user[order], item[order]
    user_ids, starts, sizes = np.unique(user, return_index=True, return_counts=True)
    rank = np.arange(len(user)) - np.repeat(starts, sizes)  # position in the user's timeline

    kept = sizes >= n_initial + 1
    remaining = sizes - n_initial
    # The epsilon keeps e.g. 0.8 * 15 = 12.000000000000002 from rounding differently from 12.
    n_train = np.floor(train_frac * remaining + 1e-9).astype(np.int64)
    n_train = np.minimum(n_train, remaining - 1)
    row_of_user = np.cumsum(kept) - 1
    row = np.repeat(row_of_user, sizes)
    keep_rating = np.repeat(kept, sizes)
    train_end = n_initial + np.repeat(n_train, sizes)

    def padded(is_part: np.ndarray, offset: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        width = int(lengths.max()) if lengths.size else 0
        out = np.full((int(kept.sum()), width), n_items, dtype=np.int32)
        select = is_part & keep_rating
        out[row[select], (rank - offset)[select]] = item[select]
        return out

    is_initial = rank < n_initial
    is_train = ~is_initial & (rank < train_end)
    is_test = rank >= train_end
    train_len = n_train[kept].astype(np.int32)
    test_len = (remaining - n_train)[kept].astype(np.int32)
    return FCPOSplit(
        users=user_ids[kept].astype(np.int32),
        initial=padded(is_initial, np.zeros_like(rank), np.full(int(kept.sum()), n_initial)),
        train=padded(is_train, np.full_like(rank, n_initial), train_len),
        train_len=train_len,
        test=padded(is_test, train_end, test_len),
        test_len=test_len,
        train_counts=np.bincount(item[keep_rating & ~is_test], minlength=n_items),
        dropped_users=user_ids[~kept].astype(np.int32),
        n_items=n_items,
    )


def popular_group_pivot(
    train_counts: jax.Array | np.ndarray, head_fraction: float = 0.2
) -> tuple[jax.Array, jax.Array]:
    """The FCPO popular-group threshold: the smallest integer ``pivot`` with
    ``#{i : count_i > pivot} < head_fraction * M``.

    With ``k`` the largest integer below ``head_fraction * M``, the pivot is the ``(k+1)``-th largest
    count, found with ``lax.top_k`` (no full sort); usable under ``jit``.

    Args:
      train_counts: [M] non-negative interaction counts per item (integer or float).
      head_fraction: in (0, 1]; 0.2 in the paper.

    Returns:
      ``(pivot, is_head)``: a scalar of ``train_counts``' dtype and bool[M], ``count > pivot`` (G0).
    """
    counts = jnp.asarray(train_counts)
    if counts.ndim != 1 or counts.shape[0] == 0:
        raise ConfigError("train_counts", f"expected a non-empty 1-d array, got {counts.shape}")
    if not 0 < head_fraction <= 1:
        raise ConfigError("head_fraction", f"must be in (0, 1], got {head_fraction}")
    # round() strips float noise so that e.g. 0.2 * 15 counts as exactly 3.
    allowed = math.ceil(round(head_fraction * counts.shape[0], 9)) - 1
    largest, _ = jax.lax.top_k(counts, allowed + 1)
    pivot = largest[allowed]
    return pivot, counts > pivot
