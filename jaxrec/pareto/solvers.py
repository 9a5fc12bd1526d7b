"""Pareto-efficient objective weights: the min-norm problem of PE-LTR and four solvers for it.

PE-LTR (Lin et al. 2019, "A Pareto-Efficient Algorithm for Multiple Objective Optimization in
E-Commerce Recommendation", RecSys) trains one scorer on K losses ``L_1..L_K``. Each step it picks
weights

    w* = argmin_w || sum_i w_i grad L_i ||^2   s.t.  sum_i w_i = 1,  w_i >= c_i,

where the bounds ``c`` (``c_i >= 0``, ``sum c < 1``) say how much each objective must at least
count. Only the Gram matrix ``Q = G G^T`` (``G``: f32[K, P], one gradient per row) enters, and the
weights do not change when ``Q`` is scaled, so every solver first divides ``Q`` by its mean
diagonal; that keeps float32 well inside its range for gradients anywhere from 1e-4 to 1e2.
Substituting ``w = c + v`` turns the feasible set into the simplex ``{v >= 0, sum v = s}`` with
``s = 1 - sum c``: MGDA's min-norm problem (Sener & Koltun 2018) on shifted gradients.

Solvers (all pure ``jnp``, usable under ``jit``/``vmap``, bounds may be traced):

- :func:`solve_two_objectives` — the exact closed form for K = 2.
- :func:`solve_active_set` — exact for small K: solves the KKT system of every face of the simplex
  (``2^K - 1`` of them) and keeps the best feasible candidate.
- :func:`solve_projected_gradient` — any K: a fixed number of accelerated projected-gradient
  (FISTA) steps.
- :func:`solve_two_step` — the paper's method, kept for comparison: solve the equality-only KKT
  system, then project onto the feasible set. Exact for K = 2 only. The paper writes the first step
  as ``inv(M^T M) M^T z``, which loses all precision in float32; here it is a least-squares solve
  of the scaled system.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from jaxrec.errors import ConfigError

#: Largest K the face-enumerating solver accepts (it solves ``2^K - 1`` small systems).
MAX_ACTIVE_SET_OBJECTIVES = 10

#: Relative size below which a squared gradient norm counts as zero (float32 resolution).
_TINY = 1e-12


def validate_bounds(
    bounds: jax.Array | np.ndarray | list[float],
    num_objectives: int | None = None,
    field: str = "bounds",
) -> np.ndarray:
    """Check lower bounds on the objective weights and return them as f32[K].

    Raises:
      ConfigError naming ``field`` when the bounds are not a 1-D list, have the wrong length, are
      negative or not finite, or sum to 1 or more (then no weights could satisfy them).
    """
    values = np.asarray(bounds, dtype=np.float64)
    if values.ndim != 1 or values.size == 0:
        raise ConfigError(
            field, f"expected a non-empty 1-D list of bounds, got shape {values.shape}"
        )
    if num_objectives is not None and values.size != num_objectives:
        raise ConfigError(
            field, f"expected {num_objectives} bounds (one per objective), got {values.size}"
        )
    if not np.all(np.isfinite(values)):
        raise ConfigError(field, f"bounds must be finite, got {values.tolist()}")
    if np.any(values < 0):
        raise ConfigError(field, f"bounds must be >= 0, got {values.tolist()}")
    if values.sum() >= 1:
        raise ConfigError(field, f"bounds must sum to less than 1, got sum {values.sum():.6g}")
    return values.astype(np.float32)


def normalize_gram(gram: jax.Array) -> jax.Array:
    """Divide a Gram matrix f32[K, K] by its mean diagonal (the weights are invariant to it)."""
    scale = jnp.mean(jnp.diagonal(gram))
    return gram / jnp.maximum(scale, jnp.finfo(gram.dtype).tiny)


def weights_objective(gram: jax.Array, weights: jax.Array) -> jax.Array:
    """Squared norm of the combined gradient, ``w^T Q w``, for f32[..., K] weights."""
    return jnp.einsum("...i,ij,...j->...", weights, gram, weights)


def project_to_simplex(values: jax.Array, total: jax.Array | float) -> jax.Array:
    """Euclidean projection of f32[K] onto ``{v >= 0, sum v = total}`` (Duchi et al. 2008).

    Sorts the K entries, which is cheap: K is the number of objectives, not of items.
    """
    k = values.shape[-1]
    descending = -jnp.sort(-values)
    cumulative = jnp.cumsum(descending) - total
    index = jnp.arange(1, k + 1, dtype=values.dtype)
    support = descending - cumulative / index > 0
    count = jnp.maximum(jnp.sum(support), 1)
    threshold = cumulative[count - 1] / count.astype(values.dtype)
    return jnp.maximum(values - threshold, 0.0)


def _shifted_budget(bounds: jax.Array) -> jax.Array:
    return 1.0 - jnp.sum(bounds)


def _uniform_feasible(bounds: jax.Array) -> jax.Array:
    """The feasible point ``c + s/K``: returned when every gradient is zero (any w is optimal)."""
    return bounds + _shifted_budget(bounds) / bounds.shape[-1]


def solve_two_objectives(gram: jax.Array, bounds: jax.Array) -> jax.Array:
    """Exact Pareto weights for K = 2.

    ``w_1 = clip((Q22 - Q12) / (Q11 + Q22 - 2 Q12), c_1, 1 - c_2)``, ``w_2 = 1 - w_1``: the
    minimiser of the 1-D convex quadratic ``||w_1 g_1 + (1 - w_1) g_2||^2``, clipped to the bounds.
    When ``g_1 = g_2`` every weight is optimal and the midpoint is clipped instead.

    Args:
      gram: f32[2, 2] Gram matrix of the two gradients.
      bounds: f32[2] lower bounds.

    Returns:
      f32[2] weights.

    >>> solve_two_objectives(jnp.eye(2), jnp.zeros(2)).tolist()  # orthogonal unit gradients
    [0.5, 0.5]
    >>> solve_two_objectives(jnp.eye(2), jnp.array([0.8, 0.0])).tolist()  # the bound binds
    [0.800000011920929, 0.19999998807907104]
    """
    q = normalize_gram(gram)
    curvature = q[0, 0] + q[1, 1] - 2.0 * q[0, 1]  # = ||g_1 - g_2||^2 / scale
    safe = curvature > _TINY
    w1 = jnp.where(safe, (q[1, 1] - q[0, 1]) / jnp.where(safe, curvature, 1.0), 0.5)
    w1 = jnp.clip(w1, bounds[0], 1.0 - bounds[1])
    return jnp.stack([w1, 1.0 - w1])


def _face_masks(k: int) -> np.ndarray:
    """bool[2^K - 1, K]: every non-empty subset of free (unclipped) coordinates."""
    rows = [
        [i in subset for i in range(k)]
        for size in range(1, k + 1)
        for subset in itertools.combinations(range(k), size)
    ]
    return np.asarray(rows, dtype=bool)


def solve_active_set(gram: jax.Array, bounds: jax.Array) -> jax.Array:
    """Exact Pareto weights for small K by enumerating the faces of the feasible simplex.

    For each subset S of coordinates allowed above their bound, solve the KKT system of
    ``min (c+v)^T Q (c+v)`` s.t. ``sum v_S = s``, ``v_{not S} = 0``; candidates with a negative
    entry are infeasible. The optimum lies in the relative interior of some face, on which its KKT
    system is non-singular, so the best feasible candidate is the optimum. Every candidate is
    clipped and rescaled onto the feasible set before it is scored, so a candidate from a singular
    face (near-collinear gradients) can never look better than it is.

    Args:
      gram: f32[K, K] Gram matrix; K <= :data:`MAX_ACTIVE_SET_OBJECTIVES`.
      bounds: f32[K] lower bounds.

    Returns:
      f32[K] weights.
    """
    k = gram.shape[-1]
    if k > MAX_ACTIVE_SET_OBJECTIVES:
        raise ConfigError(
            "solver",
            f"'active_set' enumerates 2^K faces; K={k} > {MAX_ACTIVE_SET_OBJECTIVES}, "
            "use 'projected_gradient'",
        )
    q = normalize_gram(gram)
    budget = _shifted_budget(bounds)
    masks = jnp.asarray(_face_masks(k))
    free = masks.astype(q.dtype)

    def face_candidate(mask: jax.Array) -> jax.Array:
        # Bordered KKT system [[Q_SS, 1_S], [1_S^T, 0]] [v; -mu] = [-(Q c)_S; s]; clamped rows of
        # Q are replaced by identity rows so that v_i = 0 off the face.
        outer = mask[:, None] * mask[None, :]
        block = q * outer + jnp.diag(1.0 - mask)
        system = jnp.block([[block, mask[:, None]], [mask[None, :], jnp.zeros((1, 1), q.dtype)]])
        rhs = jnp.concatenate([-(q @ bounds) * mask, budget[None]])
        solution = jnp.linalg.lstsq(system, rhs)[0]
        return solution[:k] * mask

    candidates = jax.vmap(face_candidate)(free)
    feasible = jnp.all(candidates >= -1e-5 * jnp.maximum(budget, _TINY), axis=-1)
    feasible &= jnp.all(jnp.isfinite(candidates), axis=-1)
    clipped = jnp.maximum(jnp.nan_to_num(candidates), 0.0)
    sums = clipped.sum(-1, keepdims=True)
    spread = free / free.sum(-1, keepdims=True)
    onto_budget = jnp.where(sums > 0, clipped / jnp.where(sums > 0, sums, 1.0), spread) * budget
    weights = bounds + onto_budget
    scores = jnp.where(feasible, weights_objective(q, weights), jnp.inf)
    best = jnp.argmin(scores)
    return jnp.where(jnp.isfinite(scores[best]), weights[best], _uniform_feasible(bounds))


def solve_projected_gradient(gram: jax.Array, bounds: jax.Array, num_iters: int = 256) -> jax.Array:
    """Pareto weights for any K by ``num_iters`` accelerated projected-gradient (FISTA) steps.

    Step size ``1 / (2 trace Q)`` (``trace`` bounds the largest eigenvalue of the PSD ``Q``);
    objective error after n steps is at most ``4 trace(Q) ||w0 - w*||^2 / (n+1)^2`` (Beck &
    Teboulle 2009), i.e. about 1e-4 of the mean squared gradient norm at K = 3, n = 256.

    Args:
      gram: f32[K, K] Gram matrix.
      bounds: f32[K] lower bounds.
      num_iters: number of steps (static).

    Returns:
      f32[K] weights.
    """
    q = normalize_gram(gram)
    budget = _shifted_budget(bounds)
    step = 1.0 / (2.0 * jnp.maximum(jnp.trace(q), _TINY))
    start = jnp.full(bounds.shape, budget / bounds.shape[-1], dtype=q.dtype)

    def fista_step(carry, _):
        v, momentum_point, t = carry
        gradient = 2.0 * q @ (bounds + momentum_point)
        v_next = project_to_simplex(momentum_point - step * gradient, budget)
        t_next = 0.5 * (1.0 + jnp.sqrt(1.0 + 4.0 * t * t))
        momentum_point = v_next + ((t - 1.0) / t_next) * (v_next - v)
        return (v_next, momentum_point, t_next), None

    (v, _, _), _ = jax.lax.scan(
        fista_step, (start, start, jnp.ones((), q.dtype)), None, length=num_iters
    )
    return bounds + v


def solve_two_step(gram: jax.Array, bounds: jax.Array) -> jax.Array:
    """The paper's two-step weights (PE-LTR, Algorithm 2), implemented stably.

    Step 1 drops the inequalities: ``min (c+v)^T Q (c+v)`` s.t. ``sum v = s`` is the KKT system
    ``[[Q, 1], [1^T, 0]] [v; -mu] = [-Q c; s]``, solved by least squares on the scaled ``Q``
    (the paper's ``inv(M^T M) M^T z`` squares the condition number). Step 2 projects ``v`` onto
    ``{v >= 0, sum v = s}``. The projection is Euclidean, not in the ``Q`` metric, so the result is
    the exact optimum for K = 2 but only an approximation for K >= 3 when a bound is active.

    Args:
      gram: f32[K, K] Gram matrix.
      bounds: f32[K] lower bounds.

    Returns:
      f32[K] weights.
    """
    k = gram.shape[-1]
    q = normalize_gram(gram)
    budget = _shifted_budget(bounds)
    ones = jnp.ones((k, 1), q.dtype)
    system = jnp.block([[q, ones], [ones.T, jnp.zeros((1, 1), q.dtype)]])
    rhs = jnp.concatenate([-(q @ bounds), budget[None]])
    unconstrained = jnp.linalg.lstsq(system, rhs)[0][:k]
    return bounds + project_to_simplex(jnp.nan_to_num(unconstrained), budget)


SOLVERS: dict[str, Callable[[jax.Array, jax.Array], jax.Array]] = {
    "closed_form": solve_two_objectives,
    "active_set": solve_active_set,
    "projected_gradient": solve_projected_gradient,
    "two_step": solve_two_step,
}


def solve_weights(gram: jax.Array, bounds: jax.Array, solver: str = "auto") -> jax.Array:
    """Pareto weights f32[K] from a Gram matrix f32[K, K] and bounds f32[K].

    ``solver``: ``"auto"`` (closed form for K = 2, active set for K <= 6, projected gradient
    beyond), or one of ``"closed_form"`` (K = 2 only), ``"active_set"``,
    ``"projected_gradient"``, ``"two_step"``.
    """
    return get_solver(solver, gram.shape[-1])(gram, bounds)


def get_solver(solver: str, num_objectives: int) -> Callable[[jax.Array, jax.Array], jax.Array]:
    """Resolve a solver name for K = ``num_objectives``; ConfigError ``solver`` if unknown."""
    if solver == "auto":
        if num_objectives == 2:
            solver = "closed_form"
        elif num_objectives <= 6:
            solver = "active_set"
        else:
            solver = "projected_gradient"
    if solver not in SOLVERS:
        raise ConfigError(
            "solver", f"unknown solver {solver!r}; choose from auto, {', '.join(SOLVERS)}"
        )
    if solver == "closed_form" and num_objectives != 2:
        raise ConfigError(
            "solver", f"'closed_form' needs exactly 2 objectives, got {num_objectives}"
        )
    return SOLVERS[solver]
