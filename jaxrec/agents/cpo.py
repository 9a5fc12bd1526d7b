"""Constrained Policy Optimization (Achiam et al. 2017, "Constrained Policy Optimization", ICML), the
update behind FCPO (Ge et al. 2021, "Towards Long-term Fairness in Recommendation", WSDM).

Around the current parameters ``theta_k`` CPO solves, in ascent form (docs/algorithms.md §1),

    max_x  g.x   s.t.   c + b.x <= 0,   0.5 x^T H x <= delta

where ``g`` and ``b`` are the gradients of the reward and cost surrogates ``mean(ratio * A)`` and
``mean(ratio * A_C)``, ``c = J_C(pi_k) - d`` (on the same scale as ``b``), and ``H`` is the Fisher
matrix (Hessian of the mean KL at ``theta_k``) plus damping. With ``q = g.H^-1 g``, ``r = g.H^-1 b``,
``s = b.H^-1 b``, ``D = 2 delta``, ``A = q - r^2/s`` and ``B = D - c^2/s`` the step is closed form in
five cases:

| case | condition | step |
|---|---|---|
| 4 | ``b.b <= 1e-8`` and ``c < 0`` | TRPO step ``sqrt(D/q) H^-1 g`` |
| 3 | ``c < 0`` and ``B < 0`` | TRPO step (the constraint cannot bind inside the trust region) |
| 2 | ``c < 0`` and ``B >= 0`` | dual solution |
| 1 | ``c >= 0`` and ``B >= 0`` | dual solution (feasible recovery) |
| 0 | ``c >= 0`` and ``B < 0`` | infeasible recovery ``-sqrt(D/s) H^-1 b`` |

The ascent form is used consistently in every formula (mixing it with the minimisation-form signs of
``r`` is a known bug of one public implementation). Everything here is a pure function on flat
parameter vectors (``jax.flatten_util.ravel_pytree``) usable under ``jit`` and ``vmap``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

# Case labels, as in Achiam's reference code and docs/algorithms.md §1.
CASE_INFEASIBLE_RECOVERY = 0
CASE_FEASIBLE_RECOVERY = 1
CASE_DUAL = 2
CASE_TRPO = 3
CASE_NO_COST_GRADIENT = 4

_EPS = 1e-8


def conjugate_gradient(
    matvec: Callable[[jax.Array], jax.Array], rhs: jax.Array, iterations: int = 10
) -> jax.Array:
    """Approximately solve ``H x = rhs`` for symmetric positive definite ``H`` given as ``matvec``.

    A fixed number of conjugate-gradient iterations (Hestenes & Stiefel 1952) starting from zero, as a
    ``lax.fori_loop`` so it compiles once; once the residual vanishes the iterate stops moving.

    Args:
      matvec: ``v -> H v`` on f[n].
      rhs: f[n].
      iterations: number of CG iterations (exact after ``n`` in exact arithmetic).

    Returns:
      f[n], the approximate solution.
    """

    def body(_, carry):
        x, residual, direction, residual_sq = carry
        h_direction = matvec(direction)
        curvature = jnp.vdot(direction, h_direction)
        alpha = jnp.where(curvature > 0, residual_sq / jnp.maximum(curvature, _EPS**2), 0.0)
        x = x + alpha * direction
        residual = residual - alpha * h_direction
        new_residual_sq = jnp.vdot(residual, residual)
        beta = jnp.where(residual_sq > 0, new_residual_sq / jnp.maximum(residual_sq, _EPS**4), 0.0)
        return x, residual, residual + beta * direction, new_residual_sq

    init = (jnp.zeros_like(rhs), rhs, rhs, jnp.vdot(rhs, rhs))
    return jax.lax.fori_loop(0, iterations, body, init)[0]


def fisher_vector_product(
    kl_fn: Callable[[jax.Array], jax.Array], flat_params: jax.Array, damping: float
) -> Callable[[jax.Array], jax.Array]:
    """``v -> (H + damping I) v`` with ``H`` the Hessian of ``kl_fn`` at ``flat_params``.

    ``kl_fn(theta)`` is the mean KL from the data-collecting policy (held fixed) to the policy at
    ``theta``; its Hessian at ``theta_k`` is the Fisher information matrix. The product is
    forward-over-reverse, ``jvp(grad(kl))``: one gradient's cost per product, never a dense matrix.

    Args:
      kl_fn: f[n] -> scalar.
      flat_params: f[n], the point ``theta_k``.
      damping: added multiple of the identity (0.1 is common); keeps CG well posed.
    """
    grad_kl = jax.grad(kl_fn)

    def product(vector: jax.Array) -> jax.Array:
        return jax.jvp(grad_kl, (flat_params,), (vector,))[1] + damping * vector

    return product


class CPOStep(NamedTuple):
    """The analytic CPO step and the quantities that chose it (all scalars except ``step``).

    Attributes:
      step: f[n], the search direction ``x`` (full length; the line search scales it down).
      case: i32 in 0..4 (see the module table).
      lam: the trust-region multiplier ``lambda*`` (``nan`` in cases 0, 3, 4).
      nu: the cost multiplier ``nu*`` (0 in cases 3, 4; ``nan`` in case 0).
      q, r, s: ``g.H^-1 g``, ``g.H^-1 b``, ``b.H^-1 b``.
    """

    step: jax.Array
    case: jax.Array
    lam: jax.Array
    nu: jax.Array
    q: jax.Array
    r: jax.Array
    s: jax.Array


def cpo_case(b_dot_b: jax.Array, c: jax.Array, big_b: jax.Array) -> jax.Array:
    """The CPO case 0..4 from ``b.b``, ``c`` and ``B = D - c^2/s`` (module table)."""
    feasible_now = c < 0
    return jnp.where(
        feasible_now,
        jnp.where(
            b_dot_b <= _EPS, CASE_NO_COST_GRADIENT, jnp.where(big_b < 0, CASE_TRPO, CASE_DUAL)
        ),
        jnp.where(big_b >= 0, CASE_FEASIBLE_RECOVERY, CASE_INFEASIBLE_RECOVERY),
    ).astype(jnp.int32)


def cpo_step(
    g: jax.Array,
    b: jax.Array,
    c: jax.Array,
    hinv_g: jax.Array,
    hinv_b: jax.Array,
    delta: float | jax.Array,
) -> CPOStep:
    """The closed-form solution of the single-constraint CPO subproblem (module docstring).

    The dual (for cases 1-2) is ``max_{lambda > 0} f(lambda)`` with, on the region where
    ``lambda c + r > 0`` (there ``nu = (lambda c + r)/s > 0``),
    ``f_a = -0.5 (A/lambda + B lambda) + r c / s``, and elsewhere (``nu = 0``)
    ``f_b = -0.5 (q/lambda + D lambda)``; the two regions meet at ``lambda = -r/c``. Each piece is
    maximised on its own region by projecting its unconstrained maximiser ``sqrt(A/B)`` or
    ``sqrt(q/D)``; the better of the two wins, and ``x = (g - nu b) H^-1 / lambda``.

    Args:
      g, b: f[n], reward and cost surrogate gradients.
      c: scalar, constraint value ``J_C - d`` (negative when the policy is feasible).
      hinv_g, hinv_b: f[n], ``H^-1 g`` and ``H^-1 b`` (e.g. from :func:`conjugate_gradient`).
      delta: trust-region size (KL).
    """
    q = jnp.vdot(g, hinv_g)
    r = jnp.vdot(g, hinv_b)
    s = jnp.vdot(b, hinv_b)
    d_twice = 2.0 * delta
    s_safe = jnp.maximum(s, _EPS)
    big_a = jnp.maximum(q - r**2 / s_safe, 0.0)  # >= 0 by Cauchy-Schwarz; clamp rounding
    big_b = d_twice - c**2 / s_safe
    case = cpo_case(jnp.vdot(b, b), c, big_b)

    # Boundary of the nu > 0 region, lambda c + r > 0. For c == 0 the region is everything (r > 0)
    # or nothing (r <= 0); an infinite boundary expresses both below.
    boundary = jnp.where(
        c == 0, jnp.where(r > 0, -jnp.inf, jnp.inf), -r / jnp.where(c == 0, 1.0, c)
    )
    boundary = jnp.maximum(boundary, 0.0)
    # c < 0: region a = [0, boundary], region b = [boundary, inf); c >= 0: the other way round.
    a_low, a_high = jnp.where(c < 0, 0.0, boundary), jnp.where(c < 0, boundary, jnp.inf)
    b_low, b_high = jnp.where(c < 0, boundary, 0.0), jnp.where(c < 0, jnp.inf, boundary)
    lam_a = jnp.clip(jnp.sqrt(big_a / jnp.maximum(big_b, _EPS)), a_low, a_high)
    lam_b = jnp.clip(jnp.sqrt(q / d_twice), b_low, b_high)

    def dual_a(lam):
        return -0.5 * (big_a / (lam + _EPS) + jnp.maximum(big_b, 0.0) * lam) + r * c / s_safe

    def dual_b(lam):
        return -0.5 * (q / (lam + _EPS) + d_twice * lam)

    # An empty region (a_low == a_high == inf, or a zero-width one) must never win.
    value_a = jnp.where(jnp.isfinite(lam_a) & (a_high > a_low), dual_a(lam_a), -jnp.inf)
    value_b = jnp.where(jnp.isfinite(lam_b) & (b_high > b_low), dual_b(lam_b), -jnp.inf)
    lam = jnp.maximum(jnp.where(value_a >= value_b, lam_a, lam_b), _EPS)
    nu = jnp.maximum(lam * c + r, 0.0) / s_safe
    dual_direction = (hinv_g - nu * hinv_b) / lam

    trpo_direction = jnp.sqrt(d_twice / jnp.maximum(q, _EPS)) * hinv_g
    recovery_direction = -jnp.sqrt(d_twice / s_safe) * hinv_b
    uses_dual = (case == CASE_DUAL) | (case == CASE_FEASIBLE_RECOVERY)
    step = jnp.where(
        uses_dual,
        dual_direction,
        jnp.where(case == CASE_INFEASIBLE_RECOVERY, recovery_direction, trpo_direction),
    )
    nan = jnp.full((), jnp.nan, dtype=q.dtype)
    return CPOStep(
        step=step,
        case=case,
        lam=jnp.where(uses_dual, lam, nan),
        nu=jnp.where(uses_dual, nu, jnp.where(case == CASE_INFEASIBLE_RECOVERY, nan, 0.0)),
        q=q,
        r=r,
        s=s,
    )


class LineSearchResult(NamedTuple):
    """Outcome of :func:`line_search`.

    Attributes:
      params: f[n], the accepted parameters (``theta_k`` when nothing was accepted).
      accepted: bool, whether some trial step passed.
      n_backtracks: i32, the exponent ``j`` of the accepted step ``0.8^j x`` (``max_backtracks``
        when nothing was accepted).
      kl, reward_improvement, cost_increase: at the accepted point (zeros when rejected).
    """

    params: jax.Array
    accepted: jax.Array
    n_backtracks: jax.Array
    kl: jax.Array
    reward_improvement: jax.Array
    cost_increase: jax.Array


def line_search(
    flat_params: jax.Array,
    step: jax.Array,
    case: jax.Array,
    c: jax.Array,
    delta: float | jax.Array,
    kl_fn: Callable[[jax.Array], jax.Array],
    reward_surrogate: Callable[[jax.Array], jax.Array],
    cost_surrogate: Callable[[jax.Array], jax.Array],
    backtrack: float = 0.8,
    max_backtracks: int = 10,
) -> LineSearchResult:
    """Backtracking line search of CPO: try ``theta_k + backtrack^j x`` for ``j < max_backtracks``.

    A trial is accepted when its KL is at most ``delta``, the reward surrogate did not drop (checked in
    cases 2-4 only; the recovery cases 0-1 trade reward for feasibility), and the cost surrogate rose
    by at most ``max(-c, 0)``. The first accepted trial is returned, and it is exactly the trial that
    was tested (the public FCPO code tests ``theta + beta^2 x`` but applies ``theta + beta x``). If
    none passes, ``theta_k`` is kept. Trials run in order in a ``lax.while_loop`` that stops at the
    first acceptance.

    Args:
      flat_params: f[n], ``theta_k``.
      step: f[n], the full step ``x`` from :func:`cpo_step`.
      case: i32, its CPO case.
      c: scalar, ``J_C - d`` on the same scale as ``cost_surrogate``.
      delta: KL trust-region size.
      kl_fn, reward_surrogate, cost_surrogate: f[n] -> scalar.
    """
    reward_before = reward_surrogate(flat_params)
    cost_before = cost_surrogate(flat_params)
    checks_reward = case >= CASE_DUAL
    cost_allowance = jnp.maximum(-c, 0.0)
    zero = jnp.zeros((), step.dtype)

    def try_trial(j):
        trial = flat_params + backtrack ** j.astype(step.dtype) * step
        kl = kl_fn(trial)
        reward_gain = reward_surrogate(trial) - reward_before
        cost_rise = cost_surrogate(trial) - cost_before
        passed = (
            (kl <= delta)
            & ((reward_gain >= 0) | ~checks_reward)
            & (cost_rise <= cost_allowance)
            & jnp.all(jnp.isfinite(trial))
        )
        return passed, (trial, kl, reward_gain, cost_rise)

    def keep_searching(carry):
        j, accepted, _ = carry
        return ~accepted & (j < max_backtracks)

    def body(carry):
        j, _, _ = carry
        passed, found = try_trial(j)
        return jnp.where(passed, j, j + 1), passed, found

    # Sequential with early exit: the first trial usually passes, so one evaluation, not ten.
    init = (jnp.zeros((), jnp.int32), jnp.zeros((), bool), (flat_params, zero, zero, zero))
    n_backtracks, accepted, (trial, kl, reward_gain, cost_rise) = jax.lax.while_loop(
        keep_searching, body, init
    )
    return LineSearchResult(
        params=jnp.where(accepted, trial, flat_params),
        accepted=accepted,
        n_backtracks=n_backtracks,
        kl=jnp.where(accepted, kl, zero),
        reward_improvement=jnp.where(accepted, reward_gain, zero),
        cost_increase=jnp.where(accepted, cost_rise, zero),
    )


class CPOUpdateInfo(NamedTuple):
    """Diagnostics of one :func:`cpo_update` (scalars): the step's case and multipliers, and the
    line search's outcome."""

    case: jax.Array
    lam: jax.Array
    nu: jax.Array
    accepted: jax.Array
    n_backtracks: jax.Array
    kl: jax.Array
    reward_improvement: jax.Array
    cost_increase: jax.Array


def cpo_update(
    params,
    kl_fn: Callable,
    reward_surrogate: Callable,
    cost_surrogate: Callable,
    c: jax.Array,
    *,
    delta: float = 0.01,
    damping: float = 0.1,
    cg_iterations: int = 10,
    backtrack: float = 0.8,
    max_backtracks: int = 10,
    fisher_kl_fn: Callable | None = None,
):
    """One CPO policy update: gradients, Fisher products, both CG solves in one batched pass, the
    analytic step and the line search.

    Args:
      params: the policy parameters ``theta_k`` (any pytree).
      kl_fn: params -> mean KL(pi_k || pi_params) over the batch (``pi_k`` held fixed, 0 at
        ``theta_k``).
      reward_surrogate, cost_surrogate: params -> ``mean(ratio * A)`` and ``mean(ratio * A_C)``.
      c: ``J_C(pi_k) - d`` on the scale of ``cost_surrogate``.
      delta, damping, cg_iterations, backtrack, max_backtracks: as in the module functions.
      fisher_kl_fn: the KL whose Hessian is used for the Fisher products, e.g. ``kl_fn`` on a
        subsample of the states (a cheaper, unbiased Fisher estimate); defaults to ``kl_fn``. The
        line search always checks the full ``kl_fn``.

    Returns:
      ``(new_params, CPOUpdateInfo)`` with ``new_params`` of the same structure as ``params``.
    """
    flat, unravel = ravel_pytree(params)

    def on_flat(fn):
        return lambda vector: fn(unravel(vector))

    kl_flat, reward_flat, cost_flat = (
        on_flat(kl_fn),
        on_flat(reward_surrogate),
        on_flat(cost_surrogate),
    )
    g = jax.grad(reward_flat)(flat)
    b = jax.grad(cost_flat)(flat)
    fvp = fisher_vector_product(on_flat(fisher_kl_fn or kl_fn), flat, damping)
    # vmap over the two right-hand sides: both CG systems share every Fisher product's pass.
    hinv_g, hinv_b = jax.vmap(lambda rhs: conjugate_gradient(fvp, rhs, cg_iterations))(
        jnp.stack([g, b])
    )
    solution = cpo_step(g, b, c, hinv_g, hinv_b, delta)
    search = line_search(
        flat,
        solution.step,
        solution.case,
        c,
        delta,
        kl_flat,
        reward_flat,
        cost_flat,
        backtrack=backtrack,
        max_backtracks=max_backtracks,
    )
    info = CPOUpdateInfo(
        case=solution.case,
        lam=solution.lam,
        nu=solution.nu,
        accepted=search.accepted,
        n_backtracks=search.n_backtracks,
        kl=search.kl,
        reward_improvement=search.reward_improvement,
        cost_increase=search.cost_increase,
    )
    return unravel(search.params), info
