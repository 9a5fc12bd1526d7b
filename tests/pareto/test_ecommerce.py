"""CTR/GMV objectives, G-NDCG, the vmapped training program and the ``jaxrec pareto`` command."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

from jaxrec.cli import main
from jaxrec.data.ecommerce import synthetic_ecommerce
from jaxrec.errors import ConfigError
from jaxrec.pareto.ecommerce import ParetoTrainConfig, log_arrays, make_train_fn
from jaxrec.pareto.objectives import g_ndcg, gmv_loss, parse_objectives


def test_g_ndcg_matches_numpy_with_padding() -> None:
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(30, 6)).astype(np.float32)
    gains = (rng.random((30, 6)) < 0.2) * rng.uniform(1, 50, (30, 6))
    mask = np.ones((30, 6), bool)
    mask[::3, 4:] = False
    expected = []
    for s, g, m in zip(scores, gains, mask, strict=True):
        s, g = s[m], g[m]
        discount = 1 / np.log2(np.arange(2, len(s) + 2))
        ideal = np.sort(g)[::-1] @ discount
        if ideal > 0:
            expected.append(g[np.argsort(-s)] @ discount / ideal)
    got = g_ndcg(
        jnp.asarray(scores), jnp.asarray(gains, jnp.float32), jnp.asarray(mask, jnp.float32)
    )
    assert float(got) == pytest.approx(np.mean(expected), rel=1e-5)


def test_gmv_loss_is_price_weighted_purchase_likelihood() -> None:
    logits = jnp.array([[0.5, -1.0, 2.0]])
    batch = {
        "purchases": jnp.array([[1.0, 0.0, 0.0]]),
        "prices": jnp.array([[20.0, 5.0, 100.0]]),
        "mask": jnp.array([[1.0, 1.0, 0.0]]),
    }
    sigmoid = 1 / (1 + np.exp(-np.array([0.5, -1.0])))
    expected = (-np.log1p(20.0) * np.log(sigmoid[0]) - np.log(1 - sigmoid[1])) / 2
    assert float(gmv_loss(logits, batch)) == pytest.approx(expected, rel=1e-6)


def test_parse_objectives() -> None:
    assert parse_objectives("gmv, ctr") == ("gmv", "ctr")
    with pytest.raises(ConfigError, match=r"^objectives"):
        parse_objectives("ctr,ctr")
    with pytest.raises(ConfigError, match=r"^objectives"):
        parse_objectives("ctr,revenue")


def test_grid_of_settings_and_seeds_is_one_program() -> None:
    """vmap over bounds x seeds traces once; a run alone equals the same run inside the batch."""
    data = synthetic_ecommerce(n_lists=120, list_length=5, n_users=20, n_items=30, seed=1)
    config = ParetoTrainConfig(steps=15, batch_lists=8, dim=4)
    run = make_train_fn(data, ("ctr", "gmv"), config, "pareto")
    traces = []
    jitted = jax.jit(lambda *a: (traces.append(1), run(*a))[1])
    train, test = log_arrays(data.train), log_arrays(data.test)
    bounds = jnp.array([[0.0, 0.0], [0.8, 0.0], [0.0, 0.8]])
    batched = jitted(bounds, jnp.array([0, 1]), train, test)
    jitted(bounds + 0.01, jnp.array([2, 3]), train, test)
    assert len(traces) == 1
    alone = run(bounds[1:2], jnp.array([1]), train, test)
    np.testing.assert_allclose(alone["objectives"][0, 0], batched["objectives"][1, 1], rtol=1e-5)
    weights = np.asarray(batched["weights"])
    assert np.all(weights[1, :, 0] >= 0.8 - 1e-6) and np.all(weights[2, :, 1] >= 0.8 - 1e-6)
    np.testing.assert_allclose(weights.sum(-1), 1.0, rtol=1e-5)


def test_shared_gram_runs_as_one_program_within_the_bounds() -> None:
    """gram="shared" (MGDA-UB on the logits) trains bounds x seeds in one vmapped program; its
    weights respect the bounds and, with a bound off, differ from the exact Gram's."""
    data = synthetic_ecommerce(n_lists=120, list_length=5, n_users=20, n_items=30, seed=1)
    train, test = log_arrays(data.train), log_arrays(data.test)
    bounds = jnp.array([[0.0, 0.0], [0.8, 0.0], [0.0, 0.8]])
    results = {
        gram: make_train_fn(
            data,
            ("ctr", "gmv"),
            ParetoTrainConfig(steps=15, batch_lists=8, dim=4, gram=gram),
            "pareto",
        )(bounds, jnp.array([0, 1]), train, test)
        for gram in ("shared", "exact")
    }
    weights = np.asarray(results["shared"]["weights"])
    assert np.all(weights[1, :, 0] >= 0.8 - 1e-6) and np.all(weights[2, :, 1] >= 0.8 - 1e-6)
    np.testing.assert_allclose(weights.sum(-1), 1.0, rtol=1e-5)
    assert np.all(np.isfinite(results["shared"]["objectives"]))
    assert not np.allclose(weights[0], results["exact"]["weights"][0], atol=1e-3)
    with pytest.raises(ConfigError, match=r"^gram: .*exact, shared"):
        make_train_fn(data, ("ctr", "gmv"), ParetoTrainConfig(gram="params"), "pareto")


def test_cosine_schedule_decays_adams_step_to_zero() -> None:
    config = ParetoTrainConfig(steps=40, learning_rate=0.05, lr_schedule="cosine")
    schedule = config.learning_rate_schedule()
    steps = np.arange(41)
    np.testing.assert_allclose(
        [schedule(t) for t in steps], 0.025 * (1 + np.cos(np.pi * steps / 40)), atol=1e-7
    )
    assert ParetoTrainConfig(learning_rate=0.05).learning_rate_schedule() == 0.05
    data = synthetic_ecommerce(n_lists=120, list_length=5, n_users=20, n_items=30, seed=1)
    with pytest.raises(ConfigError, match=r"^lr_schedule: .*constant, cosine"):
        make_train_fn(data, ("ctr", "gmv"), ParetoTrainConfig(lr_schedule="linear"), "fixed")


@pytest.mark.slow
def test_pareto_command_writes_frontier(tmp_path) -> None:
    out = tmp_path / "out"
    code = main(
        ["pareto", "--out", str(out), "--settings", "3", "--seeds", "2", "--steps", "10",
         "--lists", "200", "--dim", "4", "--batch-lists", "8"]
    )  # fmt: skip
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    for key in ("hypervolume", "hypervolume_fixed_grid", "reference_point", "fair_point"):
        assert key in summary
    assert summary["runs"]["pe-ltr"] == summary["runs"]["fixed"] == 8
    table = pd.read_csv(out / "frontier.csv")
    assert len(table) == 8 and set(table["method"]) == {"pe-ltr", "fixed"}
    assert {"bound_ctr", "weight_gmv", "ctr", "gmv", "dominated"} <= set(table.columns)
    assert (out / "frontier.png").stat().st_size > 0
    assert summary["hypervolume"] >= 0


def test_pareto_command_reports_bad_input(tmp_path, capsys) -> None:
    assert main(["pareto", "--out", str(tmp_path), "--objectives", "ctr"]) == 2
    assert "objectives" in capsys.readouterr().err
    assert main(["pareto", "--out", str(tmp_path), "--data", "diginetica"]) == 2
    assert "data_dir" in capsys.readouterr().err
