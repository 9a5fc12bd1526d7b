"""Frontier tools against brute-force references: non-dominated filter, hypervolume, fair point,
bound grids and the frontier model that picks new weights."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from jaxrec.errors import ConfigError
from jaxrec.pareto import (
    adaptive_bound_grid,
    bounds_for_weights,
    fit_weight_path,
    fixed_weight_grid,
    hypervolume,
    hypervolume_2d,
    hypervolume_gain_weights,
    least_misery,
    non_dominated,
    solve_two_objectives,
)

non_dominated_jit = jax.jit(non_dominated)


def brute_force_non_dominated(points: np.ndarray) -> np.ndarray:
    n = len(points)
    return np.array(
        [
            not any(
                np.all(points[j] >= points[i]) and np.any(points[j] > points[i])
                for j in range(n)
                if j != i
            )
            for i in range(n)
        ]
    )


def union_volume_by_cells(points: np.ndarray, reference: np.ndarray) -> float:
    """Volume of the union of boxes [reference, p] on the grid of all point coordinates."""
    shifted = np.maximum(points, reference)
    axes = [np.unique(np.concatenate([[r], shifted[:, d]])) for d, r in enumerate(reference)]
    volume = 0.0
    for cell in itertools.product(*(range(len(a) - 1) for a in axes)):
        upper = np.array([a[i + 1] for a, i in zip(axes, cell, strict=True)])
        lower = np.array([a[i] for a, i in zip(axes, cell, strict=True)])
        if np.any(np.all(shifted >= upper, axis=1)):
            volume += float(np.prod(upper - lower))
    return volume


# Small integer grids make ties and duplicates common, which is where filters go wrong.
point_sets = st.integers(1, 3).flatmap(
    lambda k: arrays(
        np.float32, st.tuples(st.integers(1, 12), st.just(k)), elements=st.integers(0, 4)
    )
)


@given(point_sets)
def test_non_dominated_matches_brute_force(points: np.ndarray) -> None:
    padded = np.zeros((12, points.shape[1]), np.float32) - 1.0  # one compiled shape per K
    padded[: len(points)] = points
    mask = np.asarray(non_dominated_jit(padded))[: len(points)]
    np.testing.assert_array_equal(mask, brute_force_non_dominated(points))


hypervolume_2d_jit = jax.jit(hypervolume_2d)


@given(arrays(np.float64, st.tuples(st.integers(1, 10), st.just(2)), elements=st.floats(-1, 3)))
def test_hypervolume_2d_matches_cell_union(points: np.ndarray) -> None:
    reference = np.array([0.0, -0.5])
    expected = union_volume_by_cells(points, reference)
    assert hypervolume(points, reference) == pytest.approx(expected, rel=1e-9, abs=1e-12)
    padded = np.tile(reference, (10, 1))  # points on the reference add nothing
    padded[: len(points)] = points
    traced = float(hypervolume_2d_jit(padded.astype(np.float32), reference.astype(np.float32)))
    assert traced == pytest.approx(expected, rel=1e-5, abs=1e-5)


def test_hypervolume_3d_matches_cell_union() -> None:
    rng = np.random.default_rng(0)
    for _ in range(10):
        points = rng.uniform(0, 1, size=(int(rng.integers(1, 9)), 3))
        reference = np.array([0.1, 0.0, 0.2])
        assert hypervolume(points, reference) == pytest.approx(
            union_volume_by_cells(points, reference), rel=1e-9
        )


def test_hypervolume_ignores_dominated_points() -> None:
    front = np.array([[1.0, 3.0], [2.0, 2.0], [3.0, 1.0]])
    assert hypervolume(front, np.zeros(2)) == pytest.approx(6.0)
    assert hypervolume(np.vstack([front, [[1.5, 1.5]]]), np.zeros(2)) == pytest.approx(6.0)


def test_least_misery_picks_the_balanced_point() -> None:
    points = np.array([[0.0, 1.0], [0.55, 0.6], [1.0, 0.0], [0.2, 0.2]])
    assert least_misery(points) == 1
    candidates = np.array([True, False, True, True])
    assert least_misery(points, candidates) == 3
    with pytest.raises(ConfigError, match=r"^candidates"):
        least_misery(points, np.zeros(4, bool))


def test_adaptive_grid_only_binds_above_the_unconstrained_weights() -> None:
    grid = adaptive_bound_grid(np.array([0.3, 0.7]), num_settings=9, upper=0.9)
    assert grid.shape == (9, 2)
    np.testing.assert_array_equal(grid[0], 0.0)
    first_ray = grid[1:][grid[1:, 0] > 0]
    second_ray = grid[1:][grid[1:, 1] > 0]
    assert len(first_ray) + len(second_ray) == 8
    assert len(first_ray) == 6 and len(second_ray) == 2  # rays 0.6 and 0.2 long
    assert np.all(first_ray[:, 0] > 0.3) and np.all(first_ray[:, 1] == 0)
    assert np.all(second_ray[:, 1] > 0.7) and np.all(second_ray[:, 0] == 0)
    assert grid.max() == pytest.approx(0.9)
    assert np.all(grid.sum(axis=1) < 1)
    assert len(adaptive_bound_grid(np.array([0.2, 0.3, 0.5]), num_settings=16)) == 16
    with pytest.raises(ConfigError, match=r"^num_settings"):
        adaptive_bound_grid(np.array([0.5, 0.5]), num_settings=2)


def test_fixed_weight_grid_lies_on_the_simplex() -> None:
    for k in (2, 3):
        grid = fixed_weight_grid(7, k)
        assert grid.shape == (7, k)
        np.testing.assert_allclose(grid.sum(axis=1), 1.0, rtol=1e-6)
        assert np.all(grid >= 0)


def test_fit_weight_path_recovers_a_polynomial_front() -> None:
    weights = np.linspace(0.0, 1.0, 7)
    truth = np.stack([1.0 - weights**3, weights - 0.5 * weights**2], axis=1)
    model = fit_weight_path(weights, truth)
    grid = np.linspace(0.0, 1.0, 11)
    np.testing.assert_allclose(
        model(grid), np.stack([1.0 - grid**3, grid - 0.5 * grid**2], 1), atol=1e-9
    )
    # two weights: a straight line through both points
    line = fit_weight_path(np.array([0.0, 1.0]), np.array([[0.0, 1.0], [1.0, 0.0]]))
    np.testing.assert_allclose(line(np.array([0.25])), [[0.25, 0.75]], atol=1e-12)
    with pytest.raises(ConfigError, match=r"^weights"):
        fit_weight_path(np.array([0.3, 0.3]), np.ones((2, 2)))
    with pytest.raises(ConfigError, match=r"^points"):
        fit_weight_path(np.array([0.3, 0.4]), np.ones((3, 2)))
    with pytest.raises(ConfigError, match=r"^span"):
        hypervolume_gain_weights(np.array([0.3, 0.4]), np.ones((2, 2)), np.zeros(2), 1, span=(1, 0))


def test_hypervolume_gain_weights_picks_the_closed_form_best_point() -> None:
    # Front (w, 1 - w^2) with only its two ends trained: a point at w adds w (1 - w^2) of
    # hypervolume, largest at w = 1 / sqrt(3).
    weights = np.array([0.0, 0.5, 1.0])
    front = np.stack([weights, 1.0 - weights**2], axis=1)
    ends = hypervolume_gain_weights(weights[[0, 2]], front[[0, 2]], np.zeros(2), 1)
    # two points fix only a line; three fix the quadratic exactly
    first = hypervolume_gain_weights(weights, front, np.zeros(2), 3, resolution=2001)
    model_gain = [
        hypervolume(np.vstack([front, [w, 1 - w**2]]), np.zeros(2))
        - hypervolume(front, np.zeros(2))
        for w in np.linspace(0.0, 1.0, 2001)
    ]
    assert first[0] == pytest.approx(np.linspace(0.0, 1.0, 2001)[int(np.argmax(model_gain))])
    assert ends[0] == pytest.approx(0.5, abs=2e-3)  # the line's best point is its midpoint
    # greedy picks spread out: distinct, none on a trained weight
    assert len(np.unique(first)) == 3 and np.min(np.abs(first[:, None] - weights)) > 0.02


def test_hypervolume_gain_weights_finds_an_interior_peak_and_skips_dominated_weights() -> None:
    # (w, 1 - (w - 0.2)^2): objective 1 peaks at w = 0.2, between trained weights, and below
    # w = 0.2 both objectives fall, so those weights give dominated points.
    weights = np.array([0.0, 0.5, 1.0, 0.75])
    front = np.stack([weights, 1.0 - (weights - 0.2) ** 2], axis=1)
    picks = hypervolume_gain_weights(weights, front, np.zeros(2), 4)
    assert np.all(picks >= 0.2 - 1e-9)  # never where the model's points are dominated
    # the gap around the peak is filled first
    assert 0.2 < picks[0] < 0.5


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 5))
def test_hypervolume_gain_weights_returns_weights_in_range(seed: int, count: int) -> None:
    rng = np.random.default_rng(seed)
    weights = rng.random(6)
    picks = hypervolume_gain_weights(weights, rng.random((6, 2)), np.zeros(2), count, resolution=51)
    assert picks.shape == (count,)
    assert np.all((picks >= 0.0) & (picks <= 1.0))
    inner = hypervolume_gain_weights(
        weights, rng.random((6, 2)), np.zeros(2), count, resolution=51, span=(0.1, 0.9)
    )
    assert np.all((inner >= 0.1) & (inner <= 0.9))


@pytest.mark.parametrize("unconstrained", [0.1, 0.5, 0.93])
def test_bounds_for_weights_make_the_solver_train_at_the_targets(unconstrained: float) -> None:
    # Gradients whose unconstrained min-norm weights are (w0, 1 - w0): orthogonal with norms
    # in the ratio that gives w0 = |g_1|^2 / (|g_0|^2 + |g_1|^2).
    gram = np.diag([1.0 - unconstrained, unconstrained]).astype(np.float32)
    np.testing.assert_allclose(
        solve_two_objectives(jnp.asarray(gram), jnp.zeros(2)),
        [unconstrained, 1 - unconstrained],
        atol=1e-6,
    )
    targets = np.array([0.05, 0.3, 0.5, 0.7, 0.95, unconstrained])
    bounds = bounds_for_weights(targets, np.array([unconstrained, 1 - unconstrained]))
    assert np.all(bounds >= 0) and np.all(bounds.sum(axis=1) < 1) and np.all(bounds.min(1) == 0)
    for target, bound in zip(targets, bounds, strict=True):
        weights = solve_two_objectives(jnp.asarray(gram), jnp.asarray(bound))
        np.testing.assert_allclose(weights, [target, 1 - target], atol=1e-6)
    # targets beyond the largest bound are clipped to it
    np.testing.assert_allclose(
        bounds_for_weights(np.array([1.0, 0.0]), np.array([0.5, 0.5])), [[0.99, 0], [0, 0.99]]
    )
