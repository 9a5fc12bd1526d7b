"""CPO: the analytic step against scipy's SLSQP on random instances of every case, Fisher-vector
products against a dense Fisher, conjugate gradient against a direct solve, and the line search."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree
from scipy.optimize import minimize

from jaxrec.agents.cpo import (
    CASE_DUAL,
    CASE_FEASIBLE_RECOVERY,
    CASE_INFEASIBLE_RECOVERY,
    CASE_NO_COST_GRADIENT,
    CASE_TRPO,
    conjugate_gradient,
    cpo_step,
    cpo_update,
    fisher_vector_product,
    line_search,
)

DIM = 6
DELTA = 0.01


def random_spd(rng: np.random.Generator, n: int) -> np.ndarray:
    factor = rng.normal(size=(n, n))
    return factor @ factor.T / n + 0.5 * np.eye(n)


def qp_solution(g, b, c, h, delta, x0):
    """max g.x s.t. c + b.x <= 0, 0.5 x'Hx <= delta, by SLSQP in float64 (independent oracle)."""
    constraints = [
        {"type": "ineq", "fun": lambda x: -(c + b @ x), "jac": lambda x: -b},
        {"type": "ineq", "fun": lambda x: delta - 0.5 * x @ h @ x, "jac": lambda x: -h @ x},
    ]
    result = minimize(
        lambda x: -g @ x,
        x0,
        jac=lambda x: -g,
        constraints=constraints,
        method="SLSQP",
        options={"ftol": 1e-12, "maxiter": 500},
    )
    assert result.success, result.message
    return result.x


def recovery_solution(b, h, delta, x0):
    """min b.x s.t. 0.5 x'Hx <= delta: the most cost-reducing step in the trust region."""
    constraints = [
        {"type": "ineq", "fun": lambda x: delta - 0.5 * x @ h @ x, "jac": lambda x: -h @ x}
    ]
    result = minimize(
        lambda x: b @ x,
        x0,
        jac=lambda x: b,
        constraints=constraints,
        method="SLSQP",
        options={"ftol": 1e-12, "maxiter": 500},
    )
    assert result.success, result.message
    return result.x


def make_instance(seed: int, case: int):
    """A random instance forced into ``case`` by its choice of ``c`` (B < 0 iff c^2 > 2 delta s)."""
    rng = np.random.default_rng(seed)
    h = random_spd(rng, DIM)
    g = rng.normal(size=DIM)
    b = np.zeros(DIM) if case == CASE_NO_COST_GRADIENT else rng.normal(size=DIM)
    s = b @ np.linalg.solve(h, b)
    edge = np.sqrt(2 * DELTA * s)
    fraction = rng.uniform(0.1, 0.9)
    c = {
        CASE_NO_COST_GRADIENT: -rng.uniform(0.1, 1.0),
        CASE_TRPO: -edge * (1.5 + fraction),
        CASE_DUAL: -edge * fraction,
        CASE_FEASIBLE_RECOVERY: edge * fraction,
        CASE_INFEASIBLE_RECOVERY: edge * (1.5 + fraction),
    }[case]
    return g, b, c, h


_step = jax.jit(cpo_step)


@pytest.mark.parametrize(
    "case",
    [
        CASE_INFEASIBLE_RECOVERY,
        CASE_FEASIBLE_RECOVERY,
        CASE_DUAL,
        CASE_TRPO,
        CASE_NO_COST_GRADIENT,
    ],
)
@pytest.mark.parametrize("seed", range(6))
def test_analytic_step_matches_slsqp(case, seed):
    g, b, c, h = make_instance(seed * 10 + case, case)
    hinv_g, hinv_b = np.linalg.solve(h, g), np.linalg.solve(h, b)
    as32 = lambda a: jnp.asarray(a, jnp.float32)  # noqa: E731
    out = _step(as32(g), as32(b), as32(c), as32(hinv_g), as32(hinv_b), DELTA)
    assert int(out.case) == case
    x = np.asarray(out.step, np.float64)
    if case == CASE_INFEASIBLE_RECOVERY:
        expected = recovery_solution(b, h, DELTA, x0=np.zeros(DIM))
    else:
        expected = qp_solution(g, b, c, h, DELTA, x0=np.zeros(DIM))
    np.testing.assert_allclose(x, expected, rtol=0, atol=2e-5 * np.linalg.norm(expected))
    # The analytic step is feasible up to float32 rounding.
    assert 0.5 * x @ h @ x <= DELTA * (1 + 1e-4)
    if case != CASE_INFEASIBLE_RECOVERY:
        assert c + b @ x <= 1e-5 * max(1.0, abs(c))


def test_dual_case_with_binding_constraint_has_positive_nu():
    # In case 1 the policy is infeasible, so the cost constraint must bind: nu > 0 and c + b.x = 0.
    g, b, c, h = make_instance(3, CASE_FEASIBLE_RECOVERY)
    out = _step(
        *(
            jnp.asarray(a, jnp.float32)
            for a in (g, b, c, np.linalg.solve(h, g), np.linalg.solve(h, b))
        ),
        DELTA,
    )
    assert float(out.nu) > 0
    np.testing.assert_allclose(c + b @ np.asarray(out.step, np.float64), 0.0, atol=1e-5)


def test_conjugate_gradient_solves_spd_system():
    rng = np.random.default_rng(0)
    n = 12
    h = random_spd(rng, n)
    rhs = rng.normal(size=n)
    h32 = jnp.asarray(h, jnp.float32)
    x = jax.jit(lambda v: conjugate_gradient(lambda u: h32 @ u, v, iterations=3 * n))(
        jnp.asarray(rhs, jnp.float32)
    )
    np.testing.assert_allclose(np.asarray(x), np.linalg.solve(h, rhs), rtol=1e-4, atol=1e-4)
    # A zero right-hand side stays exactly zero (no 0/0 inside the loop).
    zero = conjugate_gradient(lambda u: h32 @ u, jnp.zeros(n), iterations=5)
    assert np.all(np.asarray(zero) == 0)


def small_gaussian_policy():
    """A 2-layer tanh net mapping states to Gaussian means, with a state-independent log-std."""
    key = jax.random.key(0)
    k1, k2, k3 = jax.random.split(key, 3)
    params = {
        "w1": 0.5 * jax.random.normal(k1, (3, 4)),
        "w2": 0.5 * jax.random.normal(k2, (4, 2)),
        "log_std": jnp.array([-0.3, 0.2]),
    }
    states = jax.random.normal(k3, (7, 3))

    def mean_and_std(p):
        return jnp.tanh(states @ p["w1"]) @ p["w2"], jnp.exp(p["log_std"])

    return params, mean_and_std


def gaussian_kl(mu0, std0, mu1, std1):
    return jnp.sum(
        jnp.log(std1 / std0) + (std0**2 + (mu0 - mu1) ** 2) / (2 * std1**2) - 0.5, axis=-1
    )


def test_fisher_vector_product_matches_dense_fisher():
    params, mean_and_std = small_gaussian_policy()
    flat, unravel = ravel_pytree(params)
    mu0, std0 = jax.lax.stop_gradient(mean_and_std(params))

    def kl(vector):
        mu, std = mean_and_std(unravel(vector))
        return jnp.mean(gaussian_kl(mu0, std0, mu, std))

    # Independent oracle: the Fisher of a diagonal Gaussian in closed form, J^T diag(1/std^2) J for the
    # mean plus 2 per log-std, averaged over states.
    def mean_of(vector):
        return mean_and_std(unravel(vector))[0]

    jac_mean = np.asarray(jax.jacobian(mean_of)(flat))  # [states, 2, n]
    inv_var = 1.0 / np.asarray(std0) ** 2
    fisher = np.einsum("sai,a,saj->ij", jac_mean, inv_var, jac_mean) / jac_mean.shape[0]
    log_std_slice = slice(0, 2)  # ravel_pytree orders keys: log_std, w1, w2
    fisher[log_std_slice, log_std_slice] += 2.0 * np.eye(2)
    damping = 0.1
    dense = fisher + damping * np.eye(flat.size)
    product = jax.jit(fisher_vector_product(kl, flat, damping))
    rng = np.random.default_rng(1)
    for _ in range(3):
        v = rng.normal(size=flat.size).astype(np.float32)
        np.testing.assert_allclose(
            np.asarray(product(jnp.asarray(v))), dense @ v, rtol=1e-4, atol=1e-5
        )


def quadratic_problem(seed=0):
    rng = np.random.default_rng(seed)
    h = jnp.asarray(random_spd(rng, DIM), jnp.float32)
    g = jnp.asarray(rng.normal(size=DIM), jnp.float32)
    b = jnp.asarray(rng.normal(size=DIM), jnp.float32)
    return h, g, b


def test_line_search_returns_the_tested_trial():
    h, g, b = quadratic_problem()
    theta = jnp.zeros(DIM)
    kl = lambda x: 0.5 * x @ h @ x  # noqa: E731
    reward = lambda x: g @ x  # noqa: E731
    cost = lambda x: b @ x  # noqa: E731
    # A step of twice the trust-region length: trials fail on KL until 0.8^j * 2 <= 1.
    x = jnp.linalg.solve(h, g)
    x = x * jnp.sqrt(2 * DELTA / (g @ x)) * 2.0
    out = line_search(theta, x, jnp.int32(CASE_TRPO), jnp.float32(-10.0), DELTA, kl, reward, cost)
    expected_j = int(np.ceil(np.log(0.5) / np.log(0.8)))  # first j with 0.8^j * 2 <= 1
    assert bool(out.accepted)
    assert int(out.n_backtracks) == expected_j
    np.testing.assert_allclose(np.asarray(out.params), np.asarray(0.8**expected_j * x), rtol=1e-6)
    assert float(kl(out.params)) <= DELTA
    # A step that lowers the reward is rejected in case 2-4 and theta is kept.
    bad = line_search(theta, -x, jnp.int32(CASE_DUAL), jnp.float32(-10.0), DELTA, kl, reward, cost)
    assert not bool(bad.accepted) and int(bad.n_backtracks) == 10
    np.testing.assert_array_equal(np.asarray(bad.params), np.asarray(theta))
    # ... but the same step is acceptable in a recovery case if it lowers the cost.
    recovery = line_search(
        theta, -x, jnp.int32(CASE_FEASIBLE_RECOVERY), jnp.float32(0.0), DELTA, kl, reward, reward
    )
    assert bool(recovery.accepted)
    # The cost may rise by at most max(-c, 0).
    small_slack = line_search(
        theta, x, jnp.int32(CASE_DUAL), jnp.float32(-1e-6), DELTA, kl, reward, reward
    )
    assert not bool(small_slack.accepted)


def test_cpo_update_on_quadratic_model_moves_to_analytic_step():
    # With quadratic KL and linear surrogates the whole update is the analytic step scaled 0.8^j.
    h, g, b = quadratic_problem(2)
    params = {"theta": jnp.zeros(DIM)}
    kl = lambda p: 0.5 * p["theta"] @ h @ p["theta"]  # noqa: E731
    reward = lambda p: g @ p["theta"]  # noqa: E731
    cost = lambda p: b @ p["theta"]  # noqa: E731
    s = float(b @ jnp.linalg.solve(h, b))
    c = jnp.float32(0.5 * np.sqrt(2 * DELTA * s))  # case 1
    new, info = jax.jit(
        lambda p, c: cpo_update(
            p, kl, reward, cost, c, delta=DELTA, damping=0.0, cg_iterations=DIM * 3
        )
    )(params, c)
    assert int(info.case) == CASE_FEASIBLE_RECOVERY
    expected = qp_solution(
        np.asarray(g, np.float64),
        np.asarray(b, np.float64),
        float(c),
        np.asarray(h, np.float64),
        DELTA,
        np.zeros(DIM),
    )
    assert bool(info.accepted)
    np.testing.assert_allclose(
        np.asarray(new["theta"]),
        0.8 ** int(info.n_backtracks) * expected,
        atol=1e-4 * np.linalg.norm(expected),
    )
