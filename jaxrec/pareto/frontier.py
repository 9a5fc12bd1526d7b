"""Pareto frontier tools: non-dominated filter, hypervolume, least-misery choice, adaptive bounds.

Every function takes points f32[N, K] whose K objectives are all to be **maximised** (negate a
loss before passing it).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from jaxrec.errors import ConfigError


def non_dominated(points: jax.Array) -> jax.Array:
    """bool[N]: True where no other point is at least as good everywhere and better somewhere.

    Equal points do not dominate each other, so duplicates of a frontier point all stay. Pure
    ``jnp`` (O(N^2 K) comparisons), usable under ``jit``.
    """
    points = jnp.asarray(points)
    at_least = jnp.all(points[:, None, :] >= points[None, :, :], axis=-1)  # [j, i]: j >= i
    strictly = jnp.any(points[:, None, :] > points[None, :, :], axis=-1)
    dominated = jnp.any(at_least & strictly, axis=0)
    return ~dominated


def hypervolume_2d(points: jax.Array, reference: jax.Array) -> jax.Array:
    """Exact area dominated by 2-D points f32[N, 2] and bounded below by ``reference`` f32[2].

    Points not better than the reference in both objectives add nothing. Pure ``jnp``: sort by the
    first objective (descending) and add the strips each point adds above the best second
    objective seen so far.
    """
    points = jnp.maximum(jnp.asarray(points, jnp.float32), reference)
    order = jnp.argsort(-points[:, 0])
    x = points[order, 0] - reference[0]
    y = points[order, 1] - reference[1]
    best_y_before = jnp.concatenate([jnp.zeros((1,), y.dtype), jax.lax.cummax(y)[:-1]])
    return jnp.sum(x * jnp.maximum(y - best_y_before, 0.0))


def hypervolume(points: np.ndarray | jax.Array, reference: np.ndarray | jax.Array) -> float:
    """Exact hypervolume of points f64[N, K] with respect to ``reference`` f64[K], on the host.

    Any K, in float64 NumPy, by slicing along the last objective (Hypervolume by Slicing
    Objectives, While et al. 2006): exact, but its cost grows as ``O(N^(K-1))`` — fine for
    frontiers of tens of points and K <= 4. Not traceable; under ``jit`` use
    :func:`hypervolume_2d` (K = 2 only).
    """
    points = np.asarray(points, np.float64)
    reference = np.asarray(reference, np.float64)
    if points.ndim != 2 or reference.shape != (points.shape[1],):
        raise ConfigError(
            "reference",
            f"expected points [N, K] and a reference [K], got {points.shape}, {reference.shape}",
        )
    if points.shape[0] == 0:
        return 0.0
    return _hypervolume_slicing(np.maximum(points, reference) - reference)


def _hypervolume_slicing(points: np.ndarray) -> float:
    """Volume of the union of boxes ``[0, p]`` for points f64[N, K] (already shifted, >= 0)."""
    if points.shape[0] == 0:
        return 0.0
    if points.shape[1] == 1:
        return float(points[:, 0].max())
    heights = np.unique(points[:, -1])
    volume = 0.0
    lower = 0.0
    for height in heights:
        above = points[points[:, -1] >= height, :-1]
        volume += (height - lower) * _hypervolume_slicing(above)
        lower = height
    return volume


def least_misery(points: np.ndarray | jax.Array, candidates: np.ndarray | None = None) -> int:
    """Index of the "fair" point: the best worst-off objective after min-max normalisation.

    Each objective is scaled to [0, 1] over the candidate points (default: all), and the point
    maximising its smallest scaled objective wins (least misery). An objective with no spread
    counts as 1 for every point.

    Args:
      points: f64[N, K] objective values, larger is better.
      candidates: optional bool[N]; only these points may be chosen (e.g. the non-dominated ones).

    Returns:
      The row index into ``points``.
    """
    points = np.asarray(points, np.float64)
    candidates = np.ones(points.shape[0], bool) if candidates is None else np.asarray(candidates)
    if not candidates.any():
        raise ConfigError("candidates", "least_misery needs at least one candidate point")
    pool = points[candidates]
    low, high = pool.min(axis=0), pool.max(axis=0)
    spread = np.where(high > low, high - low, 1.0)
    scaled = np.where(high > low, (points - low) / spread, 1.0)
    misery = np.where(candidates, scaled.min(axis=1), -np.inf)
    return int(np.argmax(misery))


def adaptive_bound_grid(
    unconstrained_weights: np.ndarray, num_settings: int, upper: float = 0.99
) -> np.ndarray:
    """Bound settings f32[num_settings, K] that actually move the weights.

    A bound ``c_i`` below the weight PE-LTR picks unconstrained (``w0_i``) never binds, so a
    uniform grid wastes runs. This grid holds the unconstrained setting (all zeros) and, on each
    objective's ray, values of ``c_i`` spaced evenly in ``(w0_i, upper]`` with the other bounds at
    zero: each ray pushes the solution from the unconstrained point toward objective i. The
    ``num_settings - 1`` bounded settings are shared between the rays in proportion to their
    length ``upper - w0_i`` (at least one each), so no run is spent where nothing changes.

    Args:
      unconstrained_weights: f32[K], the weights an unconstrained run settles on (e.g. their mean
        over the second half of a probe run).
      num_settings: total number of rows, >= K + 1.
      upper: the largest bound, in (0, 1).
    """
    w0 = np.clip(np.asarray(unconstrained_weights, np.float64), 0.0, upper)
    k = w0.shape[0]
    if not 0.0 < upper < 1.0:
        raise ConfigError("upper", f"must lie in (0, 1), got {upper}")
    if num_settings < k + 1:
        raise ConfigError("num_settings", f"must be >= {k + 1} (K + 1), got {num_settings}")
    room = np.maximum(upper - w0, 1e-6)
    counts = 1 + np.floor((num_settings - 1 - k) * room / room.sum()).astype(int)
    # Hand the places lost to rounding to the longest rays.
    for objective in np.argsort(-room)[: num_settings - 1 - counts.sum()]:
        counts[objective] += 1
    rows = [np.zeros(k)]
    for objective in range(k):
        for value in np.linspace(w0[objective], upper, counts[objective] + 1)[1:]:
            row = np.zeros(k)
            row[objective] = value
            rows.append(row)
    return np.asarray(rows, np.float32)


def fit_weight_path(
    weights: np.ndarray, points: np.ndarray, degree: int = 3
) -> Callable[[np.ndarray], np.ndarray]:
    """A smooth model of a 2-objective frontier along the weight path, from noisy trained points.

    Each objective is fitted by least squares as a polynomial of the first objective's weight
    ``w_0`` (degree ``min(degree, distinct weights - 1)``). A polynomial through noisy points can
    place a maximum between them, where the points alone cannot (e.g. a metric that peaks at an
    interior weight): that is what lets :func:`hypervolume_gain_weights` look there.

    Args:
      weights: f64[N], the weight ``w_0`` each point was trained at (the realised mean weight).
      points: f64[N, 2], their objective values.

    Returns:
      ``model(w)``: f64[..., 2] predicted objectives at weights f64[...].
    """
    weights = np.asarray(weights, np.float64)
    points = np.asarray(points, np.float64)
    if weights.ndim != 1 or points.shape != (weights.shape[0], 2):
        raise ConfigError(
            "points", f"expected weights [N] and points [N, 2], got {weights.shape}, {points.shape}"
        )
    distinct = len(np.unique(np.round(weights, 6)))
    if distinct < 2:
        raise ConfigError("weights", "a frontier model needs points at two or more weights")
    fits = [
        np.polynomial.Polynomial.fit(weights, points[:, k], min(degree, distinct - 1))
        for k in range(2)
    ]
    return lambda w: np.stack([fit(np.asarray(w, np.float64)) for fit in fits], axis=-1)


def hypervolume_gain_weights(
    weights: np.ndarray,
    points: np.ndarray,
    reference: np.ndarray,
    count: int,
    degree: int = 3,
    resolution: int = 401,
    span: tuple[float, float] = (0.0, 1.0),
) -> np.ndarray:
    """The ``count`` weights ``w_0`` in ``span`` whose runs should add the most hypervolume.

    A greedy batch acquisition on the model of :func:`fit_weight_path`: each pick is the
    candidate weight (``resolution`` evenly spaced over ``span``, the weights a run can be held
    at; the model is not trusted beyond them) whose predicted point adds the most
    hypervolume to the predicted front of the weights trained or picked so far. Judging candidates
    against the model's front, not the noisy trained points, keeps one lucky run from hiding a gap.
    A candidate next to a trained weight adds almost nothing, so picks spread into the gaps, the
    widest and most curved first; none lands where the model's points are dominated (e.g. past a
    peak). When the model predicts no gain anywhere, the pick is the candidate farthest from every
    weight so far.

    Args:
      weights: f64[N], the weights ``w_0`` trained so far (realised mean weights).
      points: f64[N, 2], their objective values (larger is better).
      reference: f64[2], the hypervolume reference point.
      count: weights to return.

    Returns:
      f64[count] weights ``w_0``, in the order picked.
    """
    if not 0.0 <= span[0] < span[1] <= 1.0:
        raise ConfigError("span", f"expected 0 <= low < high <= 1, got {span}")
    model = fit_weight_path(weights, points, degree)
    reference = np.asarray(reference, np.float64)
    candidates = np.linspace(*span, resolution)
    predicted = model(candidates)
    chosen = list(np.asarray(weights, np.float64))
    picks = []
    for _ in range(count):
        front = model(np.asarray(chosen))
        base = hypervolume(front, reference)
        gains = np.array([hypervolume(np.vstack([front, p]), reference) - base for p in predicted])
        if gains.max() > 0.0:
            pick = candidates[int(np.argmax(gains))]
        else:
            distance = np.abs(candidates[:, None] - np.asarray(chosen)[None, :]).min(axis=1)
            pick = candidates[int(np.argmax(distance))]
        picks.append(pick)
        chosen.append(pick)
    return np.asarray(picks)


def bounds_for_weights(
    target_weights: np.ndarray, unconstrained_weights: np.ndarray, upper: float = 0.99
) -> np.ndarray:
    """Bound settings f32[N, 2] that make PE-LTR train at the weights ``w_0 = target_weights``.

    With K = 2 a binding bound fixes the weights: ``c = (t, 0)`` gives ``w = (t, 1 - t)`` when
    ``t`` exceeds the unconstrained ``w0_0``, and ``c = (0, 1 - t)`` gives it when ``t`` is below.
    Targets are clipped so that no bound exceeds ``upper``.
    """
    targets = np.clip(np.asarray(target_weights, np.float64), 1.0 - upper, upper)
    w0 = float(np.asarray(unconstrained_weights, np.float64)[0])
    first = np.where(targets >= w0, targets, 0.0)
    second = np.where(targets >= w0, 0.0, 1.0 - targets)
    return np.stack([first, second], axis=1).astype(np.float32)


def fixed_weight_grid(num_settings: int, num_objectives: int = 2) -> np.ndarray:
    """Scalarisation weights f32[num_settings, K] for the comparison baseline.

    K = 2: ``w_1`` evenly spaced over [0, 1]. K >= 3: the unit vectors first, then the rest drawn
    uniformly from the simplex with a fixed seed, so the baseline is reproducible.
    """
    if num_settings < num_objectives:
        raise ConfigError("num_settings", f"needs at least {num_objectives} settings")
    if num_objectives == 2:
        first = np.linspace(0.0, 1.0, num_settings)
        return np.stack([first, 1.0 - first], axis=1).astype(np.float32)
    rest = np.random.default_rng(0).dirichlet(
        np.ones(num_objectives), num_settings - num_objectives
    )
    return np.concatenate([np.eye(num_objectives), rest]).astype(np.float32)
