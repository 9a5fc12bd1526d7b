"""Equal-budget tuning: configurations batched per dimension train exactly as they do alone."""

from __future__ import annotations

import numpy as np
import pytest

from jaxrec.data.fm_synthetic import synthetic_feature_data
from jaxrec.experiments.fm_tuning import MODEL_SPACE, SHARED, draw_configurations, tune_model
from jaxrec.models.adversarial import TrainConfig, model_config
from jaxrec.models.fm_training import train

BASE = TrainConfig(dim=8, batch_size=128, max_epochs=2, patience=2)


@pytest.fixture(scope="module")
def tiny():
    return synthetic_feature_data(n_samples=2000, field_sizes=(30, 40, 6), seed=2)


def test_every_model_gets_the_same_budget_and_the_same_shared_draws():
    drawn = {name: draw_configurations(name, 5, BASE, seed=3) for name in MODEL_SPACE}
    assert all(len(configs) == 5 for configs in drawn.values())
    for i in range(5):
        shared = {tuple(configs[i][k] for k in SHARED) for configs in drawn.values()}
        assert len(shared) == 1  # FM tries the same (dim, lr, L2) points as the adversarial models
    assert drawn["aafm"][0]["eps"] == model_config("aafm").eps  # configuration 0 is the preset
    assert set(drawn["daafm"][1]) == {*SHARED, "eps", "reweight_t", "decay_a"}


def check_against_separate_runs(data, name, configs, alone_indices):
    tuned = tune_model(data, name, configs, BASE, seeds=[0, 1])
    for i in alone_indices:
        config = configs[i]
        fields = {k: config[k] for k in ("eps", "reweight_t") if k in config}
        alone = train(
            data, model_config(name, **fields),
            TrainConfig(int(config["dim"]), 128, config["learning_rate"], config["l2"], 2, 2),
            seeds=[0, 1],
        )  # fmt: skip
        np.testing.assert_allclose(tuned.trials[i]["val_auc"], alone.best_val_auc.mean(), atol=2e-4)
    best = int(np.argmax([t["val_auc"] for t in tuned.trials]))
    assert tuned.chosen == configs[best] and tuned.val_auc == tuned.trials[best]["val_auc"]
    want = (2, data.n_features, configs[best]["dim"])
    assert tuned.result.params["fm"]["embedding"].shape == want


def test_tuned_fm_configurations_train_as_they_do_alone(tiny):
    configs = [
        {"dim": 8, "learning_rate": 1e-3, "l2": 1e-3},
        {"dim": 8, "learning_rate": 1e-2, "l2": 0.0},
    ]
    check_against_separate_runs(tiny, "fm", configs, [1])


@pytest.mark.slow
def test_tuned_aafm_configurations_of_two_dimensions_train_as_they_do_alone(tiny):
    configs = [
        {"dim": 8, "learning_rate": 5e-3, "l2": 0.0, "eps": 0.05, "reweight_t": 10.0},
        {"dim": 8, "learning_rate": 1e-3, "l2": 1e-3, "eps": 0.2, "reweight_t": 1.0},
        {"dim": 4, "learning_rate": 1e-2, "l2": 1e-5, "eps": 0.01, "reweight_t": 3.0},
    ]
    check_against_separate_runs(tiny, "aafm", configs, [0, 1, 2])
