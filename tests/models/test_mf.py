"""Logistic MF recovers a planted low-rank click model (AUC against a NumPy Mann-Whitney count)."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from jaxrec.errors import ConfigError
from jaxrec.models.mf import MFConfig, fit_mf, mf_logits, mf_scores

N_USERS, N_ITEMS, RANK = 300, 200, 4
CONFIG = MFConfig(dim=8, epochs=25, batch_size=256, learning_rate=0.02, l2=1e-3)


def numpy_auc(positive: np.ndarray, negative: np.ndarray) -> float:
    """P(score of a positive > score of a negative), ties counted half, over all pairs."""
    greater = np.mean(positive[:, None] > negative[None, :])
    ties = np.mean(positive[:, None] == negative[None, :])
    return float(greater + 0.5 * ties)


@pytest.fixture(scope="module")
def planted():
    """Clicks drawn from sigmoid(P Q^T + b - 2.5); 20% of clicked pairs held out."""
    rng = np.random.default_rng(0)
    true_logits = (
        rng.normal(size=(N_USERS, RANK)) @ rng.normal(size=(N_ITEMS, RANK)).T
        + 0.5 * rng.normal(size=N_ITEMS)
        - 2.5
    )
    clicks = rng.random((N_USERS, N_ITEMS)) < 1 / (1 + np.exp(-true_logits))
    users, items = np.nonzero(clicks)
    order = rng.permutation(len(users))
    n_test = len(users) // 5
    test, train = order[:n_test], order[n_test:]
    non_users, non_items = np.nonzero(~clicks)
    negatives = rng.choice(len(non_users), n_test, replace=False)
    params, epoch_loss = fit_mf(
        jax.random.key(0),
        users[train],
        items[train],
        n_users=N_USERS,
        n_items=N_ITEMS,
        config=CONFIG,
    )
    return {
        "params": params,
        "epoch_loss": np.asarray(epoch_loss),
        "true_logits": true_logits,
        "test_pos": (users[test], items[test]),
        "test_neg": (non_users[negatives], non_items[negatives]),
    }


def test_recovers_planted_model_on_held_out_pairs(planted):
    params, true_logits = planted["params"], planted["true_logits"]
    (pu, pi), (nu, ni) = planted["test_pos"], planted["test_neg"]
    fitted = numpy_auc(np.asarray(mf_logits(params, pu, pi)), np.asarray(mf_logits(params, nu, ni)))
    oracle = numpy_auc(true_logits[pu, pi], true_logits[nu, ni])
    # Measured: fitted 0.80, oracle (true logits) 0.87, chance 0.5.
    assert fitted > 0.75
    assert fitted - 0.5 > 0.6 * (oracle - 0.5)


def test_loss_decreases_and_is_finite(planted):
    loss = planted["epoch_loss"]
    assert loss.shape == (CONFIG.epochs,) and np.all(np.isfinite(loss))
    assert loss[-1] < 0.7 * loss[0]


def test_scores_agree_with_pair_logits(planted):
    params = planted["params"]
    users = np.array([0, 5, 299])
    scores = np.asarray(mf_scores(params, users))
    items = np.arange(N_ITEMS)
    expected = np.asarray(mf_logits(params, np.repeat(users, N_ITEMS), np.tile(items, 3)))
    np.testing.assert_allclose(scores, expected.reshape(3, N_ITEMS), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"users": np.array([0, 3])}, "mf.users"),
        ({"items": np.array([0, -1])}, "mf.items"),
        ({"items": np.array([0])}, "mf.pairs"),
        ({"config_kwargs": {"epochs": 0}}, "mf.epochs"),
        ({"config_kwargs": {"learning_rate": 0.0}}, "mf.learning_rate"),
    ],
)
def test_bad_input_names_the_field(kwargs, field):
    users = kwargs.get("users", np.array([0, 1]))
    items = kwargs.get("items", np.array([1, 2]))
    with pytest.raises(ConfigError) as info:
        config = MFConfig(**kwargs.get("config_kwargs", {}))
        fit_mf(jax.random.key(0), users, items, n_users=3, n_items=3, config=config)
    assert info.value.field == field
