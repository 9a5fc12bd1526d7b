"""FGSM, AAFM strengths and weights, the D-AAFM regulariser, and seed-batched training."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrec.data.fm_synthetic import synthetic_feature_data
from jaxrec.errors import ConfigError
from jaxrec.models.adversarial import (
    FeatureTables,
    FMTrainConfig,
    adversarial_loss,
    clean_loss,
    decay_regulariser,
    fgsm_direction,
    model_config,
    perturbation_scale,
    sample_weights,
)
from jaxrec.models.fm import init_fm_params
from jaxrec.models.fm_training import evaluate, train

N_FEATURES, DIM, N_FIELDS, BATCH = 20, 6, 3, 16


@pytest.fixture(scope="module")
def batch():
    rng = np.random.default_rng(0)
    params = {"fm": init_fm_params(jax.random.key(0), N_FEATURES, DIM, N_FIELDS)}
    params["fm"]["embedding"] = params["fm"]["embedding"] * 50.0
    params["fm"]["linear"] = jnp.asarray(rng.normal(size=DIM), jnp.float32)
    # fields own rows 0-9, 10-14, 15-19; row 9 never occurs
    ids = np.stack([rng.integers(0, 9, BATCH), rng.integers(10, 15, BATCH),
                    rng.integers(15, 20, BATCH)], axis=1)  # fmt: skip
    labels = rng.integers(0, 2, BATCH).astype(np.float32)
    return params, jnp.asarray(ids), jnp.asarray(labels)


def table_gradient(params, ids, labels):
    return jax.grad(clean_loss)(params, ids, labels)["fm"]["embedding"]


def test_fgsm_per_value_has_norm_eps_on_every_seen_value(batch):
    params, ids, labels = batch
    direction = fgsm_direction(table_gradient(params, ids, labels), "value")
    norms = np.linalg.norm(0.3 * np.asarray(direction), axis=1)
    seen = np.isin(np.arange(N_FEATURES), np.asarray(ids))
    np.testing.assert_allclose(norms[seen], 0.3, rtol=1e-5)
    np.testing.assert_array_equal(norms[~seen], 0.0)


def test_fgsm_per_dimension_normalises_columns(batch):
    params, ids, labels = batch
    direction = np.asarray(fgsm_direction(table_gradient(params, ids, labels), "dimension"))
    np.testing.assert_allclose(np.linalg.norm(direction, axis=0), 1.0, rtol=1e-5)


@pytest.mark.parametrize("normalise", ["value", "dimension"])
def test_fgsm_increases_the_loss_to_first_order(batch, normalise):
    params, ids, labels = batch
    grad = table_gradient(params, ids, labels)
    direction = fgsm_direction(grad, normalise)
    base = float(clean_loss(params, ids, labels))
    for eps in (1e-2, 1e-3):
        shifted = {"fm": {**params["fm"], "embedding": params["fm"]["embedding"] + eps * direction}}
        increase = float(clean_loss(shifted, ids, labels)) - base
        first_order = eps * float(jnp.sum(grad * direction))  # = eps * sum ||g_v|| for "value"
        assert increase > 0
        assert increase == pytest.approx(first_order, rel=0.1)
    assert float(jnp.sum(grad * fgsm_direction(grad, "value"))) == pytest.approx(
        float(jnp.linalg.norm(grad, axis=1).sum()), rel=1e-5
    )


def test_raw_perturbation_scale_is_softplus_of_omega_over_beta():
    beta = jnp.asarray([0.0, 1.0, 4.0, 10.0, 2.0])
    field = jnp.asarray([0, 0, 1, 1, 2])
    tables = FeatureTables(beta=beta, field=field, rarity=jnp.zeros(1))
    omega = jnp.asarray([2.0, -1.0, 0.5])
    want = np.log1p(np.exp(np.array([2.0, 2.0, -0.25, -0.1, 0.25])))
    np.testing.assert_allclose(perturbation_scale(omega, tables, "raw"), want, rtol=1e-6)


def test_field_perturbation_scale_divides_beta_by_its_field_mean():
    beta = np.array([0.0, 100.0, 300.0, 800.0, 1.0, 3.0, 40.0])
    field = np.array([0, 0, 0, 0, 1, 1, 2])
    tables = FeatureTables(beta=jnp.asarray(beta), field=jnp.asarray(field), rarity=jnp.zeros(1))
    omega = np.array([1.5, -0.7, 0.3])
    means = {0: 400.0, 1: 2.0, 2: 40.0}  # mean over the seen values (beta > 0) of each field
    relative = np.maximum([b / means[f] for b, f in zip(beta, field, strict=True)], 0.25)
    want = np.log1p(np.exp(omega[field] / relative))
    got = np.asarray(perturbation_scale(jnp.asarray(omega), tables))
    np.testing.assert_allclose(got, want, rtol=1e-5)
    # omega acts: eps differs across the values of one field, unlike the raw formula's ~ln 2
    assert np.ptp(got[1:4]) > 0.5
    assert np.ptp(np.asarray(perturbation_scale(jnp.asarray(omega), tables, "raw"))[1:4]) < 0.01


def test_sample_weights_min_max_into_one_to_t():
    rarity = jnp.asarray([-0.5, -0.1, -0.3, -0.02])
    w = np.asarray(sample_weights(rarity, 100.0))
    r = np.asarray(rarity)
    np.testing.assert_allclose(w, 1 + 99 * (r - r.min()) / (r.max() - r.min()), rtol=1e-6)
    assert w.min() == pytest.approx(1.0) and w.max() == pytest.approx(100.0)
    assert int(np.argmax(w)) == 3  # the rarest sample (smallest alpha product) weighs most
    np.testing.assert_array_equal(sample_weights(jnp.full(3, -0.2), 100.0), 1.0)


def test_decay_regulariser_gradient_reaches_omega():
    omega = jnp.asarray([0.5, -1.0, 2.0])
    grad = jax.grad(decay_regulariser)(omega, 2.0, jnp.float32(3.0))
    want = -2.0 * np.asarray(omega) / (3.0 * np.linalg.norm(omega) ** 3)
    np.testing.assert_allclose(grad, want, rtol=1e-5)
    assert np.all(np.abs(grad) > 0)


@pytest.mark.parametrize("name", ["aafm", "daafm"])
def test_adversarial_loss_gradient_reaches_omega(batch, name):
    params, ids, labels = batch
    params = {**params, "omega": jnp.asarray([0.5, 1.0, -0.5])}
    tables = FeatureTables(
        beta=jnp.arange(N_FEATURES, dtype=jnp.float32) % 5 + 1,
        field=jnp.repeat(jnp.arange(3), jnp.asarray([10, 5, 5]), total_repeat_length=N_FEATURES),
        rarity=jnp.zeros(BATCH),
    )
    direction = fgsm_direction(table_gradient(params, ids, labels))
    grads = jax.grad(adversarial_loss)(
        params, direction, ids, labels, jnp.linspace(-1, 0, BATCH), tables,
        model_config(name), jnp.float32(2.0),
    )  # fmt: skip
    assert np.all(np.abs(np.asarray(grads["omega"])) > 0)


def test_model_config_rejects_unknown_names_and_bad_t():
    with pytest.raises(ConfigError, match="model"):
        model_config("xfm")
    with pytest.raises(ConfigError, match="t"):
        model_config("aafm", reweight_t=0.5)


@pytest.fixture(scope="module")
def tiny_data():
    return synthetic_feature_data(n_samples=3000, field_sizes=(40, 50, 8), seed=1)


TINY = FMTrainConfig(dim=8, batch_size=128, max_epochs=3, patience=3)


def test_a_seed_gives_the_same_result_alone_or_batched(tiny_data):
    alone = train(tiny_data, "aafm", TINY, seeds=[7])
    batched = train(tiny_data, "aafm", TINY, seeds=[3, 7])
    np.testing.assert_allclose(batched.history["val_auc"][-1][1], alone.history["val_auc"][-1][0],
                               rtol=1e-5)  # fmt: skip
    np.testing.assert_allclose(
        batched.params["fm"]["embedding"][1],
        alone.params["fm"]["embedding"][0],
        rtol=1e-4,
        atol=1e-6,
    )
    metrics = evaluate(batched.params, tiny_data)
    assert metrics["bucket_auc"].shape == (2, 6)
    assert np.all(metrics["auc"] > 0.6)  # it learned something in 3 epochs
