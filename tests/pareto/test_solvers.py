"""PE-LTR weight solvers against scipy's QP solver, a brute-force grid and the K = 2 closed form."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.optimize import minimize

from jaxrec.errors import ConfigError
from jaxrec.pareto import (
    SOLVERS,
    project_to_simplex,
    solve_two_objectives,
    solve_weights,
    validate_bounds,
)

CASES = 48


def random_problems(k: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients f64[CASES, K, P] mixing generic, near-collinear and badly scaled rows; bounds."""
    rng = np.random.default_rng(seed)
    grads = rng.normal(size=(CASES, k, 12))
    collinear = np.arange(CASES) % 3 == 1
    base = grads[collinear, :1, :]
    grads[collinear] = base + 1e-3 * rng.normal(size=grads[collinear].shape)
    grads *= 10.0 ** rng.uniform(-4, 2, size=(CASES, k, 1))
    grads *= 10.0 ** rng.uniform(-2, 2, size=(CASES, 1, 1))
    bounds = rng.dirichlet(np.ones(k + 1), size=CASES)[:, :k] * rng.uniform(0, 0.9, (CASES, 1))
    bounds[::4] = 0.0
    grams = np.einsum("nip,njp->nij", grads, grads)
    return grams, bounds, grads


def scipy_qp(gram: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """Reference optimum in float64 with SLSQP on the mean-diagonal-scaled Gram matrix."""
    q = gram / np.mean(np.diag(gram))
    k = len(bounds)
    best = None
    for start in (np.full(k, 1.0 / k), np.eye(k)[np.argmin(np.diag(q))]):
        x0 = bounds + (1 - bounds.sum()) * start
        result = minimize(
            lambda w: w @ q @ w,
            x0,
            jac=lambda w: 2 * q @ w,
            method="SLSQP",
            bounds=[(b, 1.0) for b in bounds],
            constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1.0}],
            options={"ftol": 1e-15, "maxiter": 500},
        )
        if best is None or result.fun < best.fun:
            best = result
    return best.x


def objective_gap(gram: np.ndarray, weights: np.ndarray, reference: np.ndarray) -> float:
    q = gram / np.mean(np.diag(gram))
    return float(weights @ q @ weights - reference @ q @ reference)


@pytest.fixture(scope="module")
def batched_solvers():
    return {
        name: jax.jit(jax.vmap(solver)) for name, solver in SOLVERS.items() if name != "closed_form"
    }


def assert_feasible(weights: np.ndarray, bounds: np.ndarray) -> None:
    np.testing.assert_allclose(weights.sum(-1), 1.0, atol=2e-6)
    assert np.all(weights >= bounds - 2e-6)


@pytest.mark.parametrize("k", [2, 3, 4])
def test_exact_solvers_match_scipy_qp(batched_solvers, k: int) -> None:
    grams, bounds, _ = random_problems(k, seed=k)
    references = np.stack([scipy_qp(g, b) for g, b in zip(grams, bounds, strict=True)])
    names = ["active_set", "projected_gradient"] + (["two_step"] if k == 2 else [])
    for name in names:
        weights = np.asarray(
            batched_solvers[name](
                jnp.asarray(grams, jnp.float32), jnp.asarray(bounds, jnp.float32)
            ),
            np.float64,
        )
        assert_feasible(weights, bounds)
        gaps = [objective_gap(*args) for args in zip(grams, weights, references, strict=True)]
        # float32 Gram matrices carry ~1e-7 relative error; PGD is allowed its O(1/n^2) bound.
        tol = 2e-4 if name == "projected_gradient" else 2e-5
        assert max(gaps) < tol, (name, max(gaps))


def test_two_step_is_feasible_but_inexact_beyond_two(batched_solvers) -> None:
    """The paper's method projects in the wrong metric: never better than the optimum, sometimes worse."""
    grams, bounds, _ = random_problems(3, seed=11)
    g32, b32 = jnp.asarray(grams, jnp.float32), jnp.asarray(bounds, jnp.float32)
    exact = np.asarray(batched_solvers["active_set"](g32, b32), np.float64)
    paper = np.asarray(batched_solvers["two_step"](g32, b32), np.float64)
    assert_feasible(paper, bounds)
    gaps = np.array([objective_gap(*args) for args in zip(grams, paper, exact, strict=True)])
    assert gaps.min() > -2e-5
    assert gaps.max() > 1e-3


def test_closed_form_is_exact_for_two_objectives() -> None:
    grams, bounds, _ = random_problems(2, seed=5)
    weights = np.asarray(
        jax.vmap(solve_two_objectives)(
            jnp.asarray(grams, jnp.float32), jnp.asarray(bounds, jnp.float32)
        ),
        np.float64,
    )
    assert_feasible(weights, bounds)
    grid = np.linspace(0.0, 1.0, 200_001)
    for gram, bound, w in zip(grams, bounds, weights, strict=True):
        q = gram / np.mean(np.diag(gram))
        curvature = q[0, 0] + q[1, 1] - 2 * q[0, 1]
        if curvature > 1e-6:  # well-determined: the float64 formula, weight for weight
            expected = np.clip((q[1, 1] - q[0, 1]) / curvature, bound[0], 1 - bound[1])
            assert w[0] == pytest.approx(expected, abs=1e-4 / curvature**0.5 + 1e-5)
        feasible = grid[(grid >= bound[0]) & (grid <= 1 - bound[1])]
        values = (
            feasible**2 * q[0, 0]
            + 2 * feasible * (1 - feasible) * q[0, 1]
            + (1 - feasible) ** 2 * q[1, 1]
        )
        assert w @ q @ w <= values.min() + 1e-5


def test_min_norm_direction_is_common_descent(batched_solvers) -> None:
    """With no bound active, <g_i, d> >= ||d||^2 for every objective (MGDA optimality)."""
    rng = np.random.default_rng(7)
    # A shared component keeps the gradients in a half-space, so the min-norm point is non-zero.
    grads = rng.normal(size=(CASES, 3, 12)) + rng.normal(size=(CASES, 1, 12))
    grads *= 10.0 ** rng.uniform(-1, 1, size=(CASES, 3, 1))
    grams = np.einsum("nip,njp->nij", grads, grads)
    zeros = np.zeros((len(grams), 3))
    for name in ("active_set", "projected_gradient"):
        weights = np.asarray(
            batched_solvers[name](jnp.asarray(grams, jnp.float32), jnp.asarray(zeros, jnp.float32)),
            np.float64,
        )
        direction = np.einsum("nk,nkp->np", weights, grads)
        norm2 = np.einsum("np,np->n", direction, direction)
        inner = np.einsum("nkp,np->nk", grads, direction)
        scale = np.einsum("nkk->n", grams)[:, None] / 3
        nonzero = norm2 > 1e-3 * scale[:, 0]
        assert nonzero.sum() > CASES // 2
        slack = (inner - norm2[:, None])[nonzero] / scale[nonzero]
        assert slack.min() > -3e-4, name


def test_zero_gradients_give_a_feasible_answer() -> None:
    bounds = jnp.asarray([0.2, 0.1, 0.0])
    for name in ("active_set", "projected_gradient", "two_step"):
        weights = solve_weights(jnp.zeros((3, 3)), bounds, solver=name)
        assert np.all(np.isfinite(weights))
        assert_feasible(np.asarray(weights), np.asarray(bounds))


def test_simplex_projection_matches_scipy() -> None:
    rng = np.random.default_rng(3)
    for _ in range(5):
        point = rng.normal(size=4)
        projected = np.asarray(project_to_simplex(jnp.asarray(point, jnp.float32), 0.7))
        reference = minimize(
            lambda v, p=point: np.sum((v - p) ** 2),
            np.full(4, 0.7 / 4),
            method="SLSQP",
            bounds=[(0, None)] * 4,
            constraints=[{"type": "eq", "fun": lambda v: v.sum() - 0.7}],
            options={"ftol": 1e-14},
        ).x
        np.testing.assert_allclose(projected, reference, atol=1e-5)


@pytest.mark.parametrize(
    ("bounds", "expected"),
    [
        ([-0.1, 0.2], ">= 0"),
        ([0.5, 0.5], "sum to less than 1"),
        ([[0.1]], "1-D"),
        ([0.1], "expected 2"),
    ],
)
def test_invalid_bounds_name_the_field(bounds, expected: str) -> None:
    with pytest.raises(ConfigError, match=f"^bounds: .*{expected}"):
        validate_bounds(bounds, num_objectives=2)


def test_unknown_or_misused_solver_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"^solver: unknown"):
        solve_weights(jnp.eye(2), jnp.zeros(2), solver="newton")
    with pytest.raises(ConfigError, match=r"^solver: 'closed_form' needs exactly 2"):
        solve_weights(jnp.eye(3), jnp.zeros(3), solver="closed_form")
