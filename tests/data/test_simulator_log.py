"""Simulator logs as lists: ring-buffer order, temporal split, catalogue, logging-policy exposure."""

from __future__ import annotations

import numpy as np
import pytest

from jaxrec.errors import ConfigError
from jaxrec.experiments.simulator_log import logs_to_lists, simulator_log_data


def test_logs_to_lists_keeps_active_users_in_step_order() -> None:
    # 3 logged blocks (one not yet written), 2 user slots, slates of 2.
    log_user = np.array([[4, -1], [5, 6], [-1, -1]])
    log_items = np.array([[[1, 2], [-1, -1]], [[3, 0], [-1, -1]], [[-1, -1], [-1, -1]]])
    log_clicks = np.zeros((3, 2, 2), bool)
    log_clicks[1, 0, 1] = True
    log_valid = np.array([True, True, False])
    step, users, items, clicks = logs_to_lists(log_user, log_items, log_clicks, log_valid)
    # user 6 at step 1 was shown nothing: not a list
    np.testing.assert_array_equal(step, [0, 1])
    np.testing.assert_array_equal(users, [4, 5])
    np.testing.assert_array_equal(items, [[1, 2], [3, 0]])
    np.testing.assert_array_equal(clicks, [[False, False], [False, True]])


@pytest.fixture(scope="module")
def data():
    return simulator_log_data(n_users=16, n_items=40, steps=6, seed=3)  # the CLI test's shapes


def test_simulator_log_is_consistent(data) -> None:
    users, items = data.field_sizes
    assert (users, items) == (16, 40) and data.field_names == ("user", "item")
    for log in (data.train, data.test):
        ids = log.feature_ids
        assert ids.shape[1:] == (10, 2)
        assert np.all((ids[..., 0] >= 0) & (ids[..., 0] < users))
        assert np.all((ids[..., 1] >= users) & (ids[..., 1] < users + items))
        assert np.all(ids[..., 0] == ids[:, :1, 0])  # one user per list
        assert np.all(log.clicks <= log.mask)  # clicks only on shown items
        assert not log.purchases.any() and np.all(log.prices == 1)
    # temporal split: 6 steps x at most 16 users, the last quarter (2 steps) held out
    assert len(data.train) <= 4 * 16 and 0 < len(data.test) <= 2 * 16
    catalogue = data.catalogue
    assert catalogue.shape[1] == 1 and np.all(catalogue >= users)
    assert len(np.unique(catalogue)) == len(catalogue)


def test_most_popular_logger_concentrates_exposure(data) -> None:
    """The ten most shown items take most impressions (a uniform logger would give them ~10/37)."""
    shown = data.train.feature_ids[..., 1][data.train.mask]
    counts = np.sort(np.bincount(shown))[::-1]
    assert counts[:10].sum() > 0.6 * counts.sum()
    assert len(np.unique(shown)) < 0.7 * len(data.catalogue)


def test_simulator_log_rejects_bad_sizes() -> None:
    with pytest.raises(ConfigError, match=r"^steps"):
        simulator_log_data(steps=1)
    with pytest.raises(ConfigError, match=r"^test_fraction"):
        simulator_log_data(test_fraction=1.0)
