"""The pareto_weights optax transformation: combination, chaining, lagged mode, row gradients,
shared-representation gradients (MGDA-UB), errors."""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxrec.errors import ConfigError
from jaxrec.models.fm import bce_with_logits, fm_logits, fm_logits_from_embeddings, init_fm_params
from jaxrec.pareto import (
    ParetoWeightsState,
    RowGrads,
    SharedGrads,
    combine_gradients,
    gram_matrix,
    pareto_weights,
    pareto_weights_state,
    solve_two_objectives,
    value_and_objective_grads,
    value_and_row_objective_grads,
    value_and_shared_grads,
)


def quadratics_of_z(z: jax.Array, targets: jax.Array) -> jax.Array:
    """L_k = ||z - t_k||^2 / 2 on the shared representation."""
    return 0.5 * jnp.sum((z[None, :] - targets) ** 2, axis=-1)


def concat_body(params: dict, targets: jax.Array) -> jax.Array:
    """z = theta flattened: an identity body, so the shared weights are the exact weights."""
    del targets
    return jnp.concatenate([params["a"], params["b"].ravel()])


def two_quadratics(params: dict, targets: jax.Array) -> jax.Array:
    """L_k = ||x - t_k||^2 / 2 for two targets: the Pareto set is the segment between them."""
    return quadratics_of_z(concat_body(params, targets), targets)


def closed_form_weights(gram: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """The exact K = 2 weights (docs/algorithms.md §3), float64."""
    w1 = (gram[1, 1] - gram[0, 1]) / (gram[0, 0] + gram[1, 1] - 2 * gram[0, 1])
    w1 = np.clip(w1, bounds[0], 1 - bounds[1])
    return np.array([w1, 1 - w1])


@pytest.fixture(scope="module")
def problem():
    params = {"a": jnp.array([0.3, -0.2]), "b": jnp.array([[0.5], [0.1]])}
    targets = jnp.array([[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.5, -1.0]])
    return params, targets


def test_objective_grads_match_jacobian(problem) -> None:
    params, targets = problem
    losses, grads = value_and_objective_grads(two_quadratics, params, targets)
    np.testing.assert_allclose(losses, two_quadratics(params, targets), rtol=1e-6)
    jacobian = jax.jacrev(two_quadratics)(params, targets)
    for name in params:
        np.testing.assert_allclose(grads[name], jacobian[name], rtol=1e-6)
        assert grads[name].shape == (2, *params[name].shape)


def test_update_combines_with_solved_weights_and_chains(problem) -> None:
    params, targets = problem
    bounds = [0.6, 0.0]
    tx = optax.chain(pareto_weights(bounds), optax.sgd(0.5))
    state = tx.init(params)
    np.testing.assert_allclose(pareto_weights_state(state).weights, [0.8, 0.2])
    _, grads = value_and_objective_grads(two_quadratics, params, targets)
    updates, state = jax.jit(tx.update)(grads, state, params)
    logged = pareto_weights_state(state)
    assert isinstance(logged, ParetoWeightsState)
    flat = np.concatenate([np.asarray(g).reshape(2, -1) for g in jax.tree.leaves(grads)], axis=1)
    np.testing.assert_allclose(logged.gram, flat @ flat.T, rtol=1e-5)
    expected_w = solve_two_objectives(jnp.asarray(flat @ flat.T), jnp.asarray(bounds))
    np.testing.assert_allclose(logged.weights, expected_w, rtol=1e-6)
    for name in params:
        combined = np.tensordot(np.asarray(expected_w), np.asarray(grads[name]), axes=1)
        np.testing.assert_allclose(updates[name], -0.5 * combined, rtol=1e-5)


def test_training_reaches_the_pareto_set_and_respects_bounds(problem) -> None:
    """Iterating ends on the segment between the targets, with weight >= the bound on L_1."""
    params, targets = problem
    tx = optax.chain(pareto_weights([0.7, 0.0]), optax.sgd(0.3))

    @jax.jit
    def run(params):
        def step(carry, _):
            params, state = carry
            _, grads = value_and_objective_grads(two_quadratics, params, targets)
            updates, state = tx.update(grads, state, params)
            return (optax.apply_updates(params, updates), state), None

        (params, state), _ = jax.lax.scan(step, (params, tx.init(params)), None, length=200)
        return params, state

    final, state = run(params)
    x = np.concatenate([final["a"], np.ravel(final["b"])])
    t1, t2 = np.asarray(targets)
    along = (x - t2) @ (t1 - t2) / np.sum((t1 - t2) ** 2)
    np.testing.assert_allclose(x, t2 + along * (t1 - t2), atol=1e-4)  # on the segment
    assert along >= 0.7 - 1e-4
    assert pareto_weights_state(state).weights[0] >= 0.7 - 1e-6


def test_lagged_mode_uses_previous_weights(problem) -> None:
    params, targets = problem
    tx = pareto_weights([0.0, 0.0], lagged=True)
    state = tx.init(params)
    _, grads = value_and_objective_grads(two_quadratics, params, targets)
    updates, new_state = tx.update(grads, state, params)
    np.testing.assert_allclose(updates["a"], 0.5 * (grads["a"][0] + grads["a"][1]), rtol=1e-6)
    gram = gram_matrix(grads)
    np.testing.assert_allclose(
        new_state.weights, solve_two_objectives(gram, jnp.zeros(2)), rtol=1e-6
    )


def test_weight_momentum_averages_the_solved_weights(problem) -> None:
    """beta > 0: the weights are the bias-corrected EMA of each step's closed-form solution
    (NumPy reference), stay feasible, and the update combines with them."""
    params, _ = problem
    bounds, beta = np.array([0.1, 0.2]), 0.8
    tx = pareto_weights(bounds, weight_momentum=beta)
    update = jax.jit(tx.update)
    state = tx.init(params)
    rng = np.random.default_rng(0)
    solved = []
    for step in range(1, 7):
        grads = jax.tree.map(
            lambda leaf: jnp.asarray(rng.normal(size=(2, *leaf.shape)), jnp.float32), params
        )
        flat = np.concatenate(
            [np.asarray(g, np.float64).reshape(2, -1) for g in jax.tree.leaves(grads)], 1
        )
        solved.append(closed_form_weights(flat @ flat.T, bounds))
        updates, state = update(grads, state, params)
        decay = beta ** np.arange(step)[::-1]
        expected = (decay[:, None] * np.asarray(solved)).sum(0) / decay.sum()
        np.testing.assert_allclose(state.weights, expected, rtol=1e-5)
        assert np.all(np.asarray(state.weights) >= bounds - 1e-6)
        np.testing.assert_allclose(
            updates["a"],
            expected[0] * grads["a"][0] + expected[1] * grads["a"][1],
            rtol=1e-5,
            atol=1e-6,
        )
    with pytest.raises(ConfigError, match=r"^weight_momentum"):
        pareto_weights(bounds, weight_momentum=1.0)


def test_vmaps_over_traced_bounds(problem) -> None:
    params, targets = problem
    _, grads = value_and_objective_grads(two_quadratics, params, targets)

    def weights_for(bounds):
        tx = pareto_weights(bounds)
        return tx.update(grads, tx.init(params))[1].weights

    grid = jnp.array([[0.0, 0.0], [0.9, 0.0], [0.0, 0.9]])
    weights = jax.vmap(weights_for)(grid)
    assert weights[1, 0] >= 0.9 - 1e-6 and weights[2, 1] >= 0.9 - 1e-6


def test_errors_name_the_field(problem) -> None:
    params, targets = problem
    with pytest.raises(ConfigError, match=r"^bounds: .*>= 0"):
        pareto_weights([-0.1, 0.2])
    with pytest.raises(ConfigError, match=r"^bounds: .*less than 1"):
        pareto_weights([0.6, 0.4])
    _, grads = value_and_objective_grads(two_quadratics, params, targets)
    tx = pareto_weights([0.1, 0.1, 0.1])
    with pytest.raises(ConfigError, match=r"^updates: .*size 3"):
        tx.update(grads, tx.init(params))
    with pytest.raises(ConfigError, match=r"^opt_state"):
        pareto_weights_state(optax.sgd(0.1).init(params))


def fm_two_losses(params: dict, ids: jax.Array, labels: jax.Array) -> jax.Array:
    """Two BCE losses of one FM score f32[2]: the dense reference for the row-gradient path."""
    return bce_with_logits(fm_logits(params, ids)[None, :], labels).mean(axis=-1)


def fm_two_losses_from_rows(others: dict, rows: jax.Array, labels: jax.Array) -> jax.Array:
    logits = fm_logits_from_embeddings(rows, others["linear"], others["bias"])
    return bce_with_logits(logits[None, :], labels).mean(axis=-1)


@pytest.fixture(scope="module", params=[12, 200], ids=["dense-form", "segment-sum"])
def fm_problem(request):
    """Ids in 0..11 looked up 40 x 3 times (nearly every one several times), in a 12-row table
    (the row Gram takes the dense form) and in a 200-row one (it segment-sums the lookups)."""
    params = init_fm_params(jax.random.key(0), request.param, 4, 3)
    params = jax.tree.map(lambda x: x + 0.3 * jax.random.normal(jax.random.key(1), x.shape), params)
    ids = jax.random.randint(jax.random.key(2), (40, 3), 0, 12)
    labels = (jax.random.uniform(jax.random.key(3), (2, 40)) < 0.4).astype(jnp.float32)
    return params, ids, labels


def test_row_grads_equal_the_dense_gradients_gram_and_combine(fm_problem) -> None:
    """Gram and combine on the looked-up rows equal the dense computation, duplicates included."""
    params, ids, labels = fm_problem
    assert len(np.unique(np.asarray(ids))) < ids.size  # duplicates are exercised
    losses, row_grads = jax.jit(
        lambda p: value_and_row_objective_grads(
            fm_two_losses_from_rows, p, "embedding", ids, labels
        )
    )(params)
    assert isinstance(row_grads["embedding"], RowGrads)
    jacobian = jax.jacrev(fm_two_losses)(params, ids, labels)
    np.testing.assert_allclose(losses, fm_two_losses(params, ids, labels), rtol=1e-6)
    np.testing.assert_allclose(
        row_grads["embedding"].dense(), jacobian["embedding"], rtol=1e-5, atol=1e-8
    )
    # Independent dense reference in float64 NumPy: per-objective table gradients by np.add.at.
    values = np.asarray(row_grads["embedding"].values, np.float64)
    dense = np.zeros((2, params["embedding"].shape[0], 4))
    for k in range(2):
        np.add.at(dense[k], np.asarray(ids).ravel(), values[k])
    flat = np.concatenate(
        [dense.reshape(2, -1)]
        + [np.asarray(row_grads[n], np.float64).reshape(2, -1) for n in ("linear", "bias")],
        axis=1,
    )
    np.testing.assert_allclose(jax.jit(gram_matrix)(row_grads), flat @ flat.T, rtol=1e-5)
    weights = jnp.array([0.3, 0.7])
    combined = jax.jit(combine_gradients)(row_grads, weights)
    np.testing.assert_allclose(
        combined["embedding"], np.tensordot([0.3, 0.7], dense, axes=1), rtol=1e-5, atol=1e-8
    )
    np.testing.assert_allclose(
        combined["linear"], 0.3 * row_grads["linear"][0] + 0.7 * row_grads["linear"][1], rtol=1e-6
    )


def test_row_grads_update_equals_the_dense_update(fm_problem) -> None:
    params, ids, labels = fm_problem
    tx = optax.chain(pareto_weights([0.0, 0.2]), optax.sgd(1.0))
    _, dense_grads = value_and_objective_grads(fm_two_losses, params, ids, labels)
    _, row_grads = value_and_row_objective_grads(
        fm_two_losses_from_rows, params, "embedding", ids, labels
    )
    dense_updates, dense_state = tx.update(dense_grads, tx.init(params))
    row_updates, row_state = tx.update(row_grads, tx.init(params))
    np.testing.assert_allclose(row_state[0].weights, dense_state[0].weights, rtol=1e-5)
    for name in params:
        np.testing.assert_allclose(row_updates[name], dense_updates[name], rtol=1e-5, atol=1e-8)


def fm_split_logits(params: dict, ids: jax.Array, labels: jax.Array) -> dict:
    """A two-leaf shared representation: the FM logits of the first and the last 20 samples."""
    del labels
    logits = fm_logits(params, ids)
    return {"first": logits[:20], "last": logits[20:]}


def bce_of_split_logits(z: dict, ids: jax.Array, labels: jax.Array) -> jax.Array:
    del ids
    logits = jnp.concatenate([z["first"], z["last"]])
    return bce_with_logits(logits[None, :], labels).mean(axis=-1)


def test_shared_grads_combine_equals_the_weighted_dense_gradients(fm_problem) -> None:
    """The combine is exact for any weights; the Gram is that of the cotangents dL_k/dz."""
    params, ids, labels = fm_problem
    losses, shared = jax.jit(
        lambda p: value_and_shared_grads(bce_of_split_logits, fm_split_logits, p, ids, labels)
    )(params)
    assert isinstance(shared, SharedGrads)
    dense_losses, dense = value_and_objective_grads(fm_two_losses, params, ids, labels)
    np.testing.assert_allclose(losses, dense_losses, rtol=1e-6)
    combine = jax.jit(combine_gradients)
    for weights in jax.random.dirichlet(jax.random.key(4), jnp.ones(2), (3,)):
        combined = combine(shared, weights)
        for name in params:
            expected = np.tensordot(np.asarray(weights), np.asarray(dense[name]), axes=1)
            np.testing.assert_allclose(combined[name], expected, rtol=1e-5, atol=1e-7)
    # Reference Gram from the Jacobian of the head alone, in float64 NumPy.
    z = fm_split_logits(params, ids, labels)
    jacobian = jax.jacrev(bce_of_split_logits)(z, ids, labels)
    flat = np.concatenate([np.asarray(jacobian[n], np.float64) for n in ("first", "last")], 1)
    np.testing.assert_allclose(jax.jit(gram_matrix)(shared), flat @ flat.T, rtol=1e-5)


def linear_body(theta: jax.Array, matrix: jax.Array, targets: jax.Array) -> jax.Array:
    del targets
    return matrix @ theta


def linear_head(z: jax.Array, matrix: jax.Array, targets: jax.Array) -> jax.Array:
    del matrix
    return quadratics_of_z(z, targets)


def test_shared_gram_is_exact_for_scaled_orthonormal_rows_and_invariant_to_the_body() -> None:
    """z = s Q theta with orthonormal rows Q: parameter Gram = s^2 shared Gram, equal weights.
    Reparametrising the body (same z) leaves the shared Gram unchanged; permuting and scaling
    the losses permutes and scales it."""
    orthonormal = np.linalg.qr(np.random.default_rng(0).normal(size=(6, 3)))[0].T  # [3, 6]
    scale = 2.5
    matrix = jnp.asarray(scale * orthonormal, jnp.float32)
    theta = jnp.asarray(np.random.default_rng(1).normal(size=6), jnp.float32)
    targets = jnp.array([[1.0, 0.0, 2.0], [0.0, 1.0, 0.5]])
    bounds = np.array([0.0, 0.3])
    _, shared = value_and_shared_grads(linear_head, linear_body, theta, matrix, targets)
    shared_gram = np.asarray(gram_matrix(shared), np.float64)

    def exact_losses(theta):
        return quadratics_of_z(linear_body(theta, matrix, targets), targets)

    _, exact = value_and_objective_grads(exact_losses, theta)
    exact_flat = np.asarray(exact, np.float64)
    np.testing.assert_allclose(scale**2 * shared_gram, exact_flat @ exact_flat.T, rtol=1e-5)
    tx = pareto_weights(bounds)
    updates, state = tx.update(shared, tx.init(theta))
    expected_w = closed_form_weights(exact_flat @ exact_flat.T, bounds)
    np.testing.assert_allclose(state.weights, expected_w, rtol=1e-5)
    np.testing.assert_allclose(updates, expected_w @ exact_flat, rtol=1e-5, atol=1e-6)

    mixing = jnp.asarray(np.random.default_rng(2).normal(size=(6, 6)), jnp.float32)
    _, reparametrised = value_and_shared_grads(
        linear_head, linear_body, jnp.linalg.solve(mixing, theta), matrix @ mixing, targets
    )
    np.testing.assert_allclose(gram_matrix(reparametrised), shared_gram, rtol=1e-4)

    loss_scale = np.array([3.0, 0.5])

    def permuted_scaled(z, matrix, targets):
        return jnp.asarray(loss_scale, jnp.float32) * quadratics_of_z(z, targets)[::-1]

    _, swapped = value_and_shared_grads(permuted_scaled, linear_body, theta, matrix, targets)
    expected = np.outer(loss_scale, loss_scale) * shared_gram[::-1, ::-1]
    np.testing.assert_allclose(gram_matrix(swapped), expected, rtol=1e-5)


def test_shared_grads_vmap_over_traced_bounds(problem) -> None:
    params, targets = problem
    _, shared = value_and_shared_grads(quadratics_of_z, concat_body, params, targets)
    gram = np.asarray(gram_matrix(shared), np.float64)

    def weights_for(bounds):
        tx = pareto_weights(bounds)
        return tx.update(shared, tx.init(params))[1].weights

    grid = np.array([[0.0, 0.0], [0.9, 0.0], [0.0, 0.9]])
    weights = jax.jit(jax.vmap(weights_for))(jnp.asarray(grid, jnp.float32))
    expected = np.stack([closed_form_weights(gram, bounds) for bounds in grid])
    np.testing.assert_allclose(weights, expected, rtol=1e-5, atol=1e-6)


def test_shared_grads_train_with_adam_in_a_scan_to_the_pareto_set(problem) -> None:
    """pareto_weights + Adam in a lax.scan reaches the Pareto segment with weight >= the bound;
    the loop compiles once for new parameter values."""
    params, targets = problem
    schedule = optax.cosine_decay_schedule(0.05, 400)
    tx = optax.chain(pareto_weights([0.7, 0.0]), optax.adam(schedule))

    @jax.jit
    @chex.assert_max_traces(n=1)
    def run(params):
        def step(carry, _):
            params, state = carry
            _, shared = value_and_shared_grads(quadratics_of_z, concat_body, params, targets)
            updates, state = tx.update(shared, state, params)
            return (optax.apply_updates(params, updates), state), None

        (params, state), _ = jax.lax.scan(step, (params, tx.init(params)), None, length=400)
        return params, state

    run(jax.tree.map(lambda x: x + 1.0, params))
    final, state = run(params)
    x = np.asarray(concat_body(final, targets))
    t1, t2 = np.asarray(targets)
    along = (x - t2) @ (t1 - t2) / np.sum((t1 - t2) ** 2)
    np.testing.assert_allclose(x, t2 + along * (t1 - t2), atol=2e-3)  # on the segment
    assert along >= 0.7 - 2e-3
    assert pareto_weights_state(state).weights[0] >= 0.7 - 1e-6


def test_shared_grads_error_names_updates(problem) -> None:
    params, targets = problem
    _, shared = value_and_shared_grads(quadratics_of_z, concat_body, params, targets)
    tx = pareto_weights([0.1, 0.1, 0.1])
    with pytest.raises(ConfigError, match=r"^updates: .*size 3, got shape \(2, 4\)"):
        tx.update(shared, tx.init(params))
