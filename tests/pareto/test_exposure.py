"""Accuracy vs exposure: catalogue FM logits, the exposure penalty and metric, the simulator frontier."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jaxrec.cli import main
from jaxrec.data.ecommerce import synthetic_ecommerce
from jaxrec.errors import ConfigError
from jaxrec.models.fm import fm_logits_from_embeddings
from jaxrec.pareto.ecommerce import ParetoTrainConfig, fm_catalogue_logits, make_train_fn
from jaxrec.pareto.objectives import exposure_concentration_loss, top_k_exposure_equality


@pytest.mark.parametrize("item_fields", [1, 3])
def test_catalogue_logits_equal_the_fm_on_every_pair(item_fields: int) -> None:
    keys = jax.random.split(jax.random.key(0), 4)
    users = jax.random.normal(keys[0], (5, 3))
    items = jax.random.normal(keys[1], (7, item_fields, 3))
    linear, bias = jax.random.normal(keys[2], (3,)), jnp.float32(0.4)
    pairs = jnp.concatenate(
        [
            jnp.broadcast_to(users[:, None, None], (5, 7, 1, 3)),
            jnp.broadcast_to(items[None], (5, 7, item_fields, 3)),
        ],
        axis=2,
    )
    np.testing.assert_allclose(
        fm_catalogue_logits(users, items, linear, bias),
        fm_logits_from_embeddings(pairs, linear, bias),
        rtol=1e-5,
        atol=1e-5,
    )


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 10_000))
def test_exposure_penalty_is_scaled_herfindahl_of_softmax_shares(seed: int) -> None:
    logits = np.random.default_rng(seed).normal(0, 2, (6, 9))
    probs = np.exp(logits - logits.max(1, keepdims=True))
    share = (probs / probs.sum(1, keepdims=True)).mean(0)
    expected = 9 * np.sum(share**2) - 1
    got = exposure_concentration_loss(jnp.asarray(logits, jnp.float32), {})
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


def test_exposure_penalty_bounds() -> None:
    assert abs(float(exposure_concentration_loss(jnp.zeros((3, 8)), {}))) < 1e-6
    monopoly = jnp.zeros((3, 8)).at[:, 2].set(60.0)
    np.testing.assert_allclose(exposure_concentration_loss(monopoly, {}), 7.0, rtol=1e-5)


def test_top_k_exposure_equality_matches_numpy() -> None:
    scores = np.random.default_rng(1).normal(size=(11, 13)).astype(np.float32)
    exposure = np.zeros(13)
    for row in scores:
        for rank, item in enumerate(np.argsort(-row)[:4]):
            exposure[item] += 1 / np.log2(rank + 2)
    exposure /= len(scores)
    ascending = np.sort(exposure)
    n = len(ascending)
    gini = np.sum((2 * np.arange(1, n + 1) - n - 1) * ascending) / (n * ascending.sum())
    np.testing.assert_allclose(top_k_exposure_equality(jnp.asarray(scores), 4), 1 - gini, rtol=1e-5)
    # everyone sees the same four items: as unequal as top-4 exposure over 13 items gets
    same = np.tile(np.arange(13.0), (11, 1))
    assert float(top_k_exposure_equality(jnp.asarray(same), 4)) < 1 - 0.6


def test_exposure_objective_needs_a_catalogue() -> None:
    data = synthetic_ecommerce(n_lists=40, list_length=3, n_users=5, n_items=8, seed=0)
    with pytest.raises(ConfigError, match=r"^objectives: .*catalogue"):
        make_train_fn(data, ("accuracy", "exposure"), ParetoTrainConfig(steps=2), "pareto")


def test_pareto_command_traces_accuracy_vs_exposure_on_a_simulator_log(tmp_path) -> None:
    out = tmp_path / "sim"
    code = main(
        ["pareto", "--data", "simulator", "--out", str(out), "--settings", "4", "--seeds", "2",
         "--steps", "40", "--dim", "4", "--batch-lists", "8", "--sim-users", "16",
         "--sim-items", "40", "--sim-steps", "6"]
    )  # fmt: skip
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["objectives"] == ["accuracy", "exposure"]
    assert summary["reference_point"]["exposure"] == 0.0
    assert summary["runs"]["pe-ltr"] == summary["runs"]["fixed"] == 10
    assert len(summary["hypervolume_per_seed"]) == 2
    table = pd.read_csv(out / "frontier.csv")
    assert {"bound_accuracy", "weight_exposure", "accuracy", "exposure"} <= set(table.columns)
    assert table["exposure"].between(0, 1).all() and table["accuracy"].between(0, 1).all()
    fixed = table[table["method"] == "fixed"]
    # all weight on exposure spreads exposure more evenly than all weight on accuracy
    by_weight = fixed.set_index("weight_exposure")["exposure"]
    assert by_weight.loc[1.0] > by_weight.loc[0.0]
