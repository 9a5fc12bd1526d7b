"""Frontier tools against brute-force references: non-dominated filter, hypervolume, fair point,
bound grids."""

from __future__ import annotations

import itertools

import jax
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from jaxrec.errors import ConfigError
from jaxrec.pareto import (
    adaptive_bound_grid,
    fixed_weight_grid,
    gap_bound_grid,
    hypervolume,
    hypervolume_2d,
    least_misery,
    non_dominated,
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


def test_gap_bound_grid_bisects_the_gaps_with_most_hypervolume_to_gain() -> None:
    # Settings on the path c_0 - c_1: A (-0.9), B (-0.5), D (0), C (0.9); D is dominated by B.
    # Boxes between path neighbours: A-B 0.1 x 0.1, B-D 0.05 x 0.4, D-C 0.95 x 0.5.
    points = np.array([[0.0, 1.0], [0.1, 0.9], [1.0, 0.0], [0.05, 0.5]])
    bounds = np.array([[0.0, 0.9], [0.0, 0.5], [0.9, 0.0], [0.0, 0.0]])
    rows = gap_bound_grid(bounds, points, 3)
    d, c = bounds[3], bounds[2]
    # D-C is split first, then both of its halves (0.475 / 4 each) before B-D and A-B
    np.testing.assert_allclose(rows[0], (d + c) / 2, rtol=1e-6)
    expected_next = [(d + (d + c) / 2) / 2, ((d + c) / 2 + c) / 2]
    np.testing.assert_allclose(sorted(map(tuple, rows[1:])), sorted(map(tuple, expected_next)))
    assert np.all(rows.sum(axis=1) < 1.0)
    # one frontier point: its path neighbours' gaps are still split, not the point repeated
    lonely = gap_bound_grid(bounds, np.array([[0, 0], [0, 0], [1.0, 1.0], [0.5, 0.2]]), 2)
    assert len(np.unique(lonely, axis=0)) == 2


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 6))
def test_gap_bound_grid_stays_within_the_trained_bounds(seed: int, count: int) -> None:
    rng = np.random.default_rng(seed)
    bounds = rng.dirichlet(np.ones(3), 7)[:, :2] * 0.99
    points = rng.random((7, 2))
    rows = gap_bound_grid(bounds, points, count)
    assert rows.shape == (count, 2)
    assert np.all(rows >= -1e-7) and np.all(rows.sum(axis=1) < 1.0)
    low, high = bounds.min(axis=0), bounds.max(axis=0)
    assert np.all(rows >= low - 1e-6) and np.all(rows <= high + 1e-6)
