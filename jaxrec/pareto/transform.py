"""PE-LTR as an optax gradient transformation: per-objective gradients in, one combined update out.

The transformation expects ``updates`` whose every leaf carries a leading objective axis of size K
(the gradients of the K losses, e.g. from :func:`value_and_objective_grads`). Each step it builds
the K x K Gram matrix of those gradients over all leaves, solves the Pareto-efficient weights
(:mod:`jaxrec.pareto.solvers`) and returns ``sum_k w_k g_k`` with the objective axis gone, so any
optimizer can follow it::

    tx = optax.chain(pareto_weights(bounds=[0.2, 0.1]), optax.adam(1e-3))
    opt_state = tx.init(params)
    losses, grads = value_and_objective_grads(loss_fn, params, batch)   # grads: [K, ...] leaves
    updates, opt_state = tx.update(grads, opt_state, params)
    params = optax.apply_updates(params, updates)
    pareto_weights_state(opt_state).weights                              # f32[K], for logging

With no active bound (e.g. ``c = 0``) the combination ``d`` is MGDA's min-norm point: when it is
non-zero it is a common descent direction, ``<g_i, d> >= ||d||^2 > 0`` for every objective
(Désidéri 2012). An active bound ``w_i = c_i > w*_i`` deliberately tilts ``d`` toward objective i,
and the others may then rise to first order: the bounds choose the point on the frontier.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from jaxrec.errors import ConfigError
from jaxrec.pareto.solvers import get_solver, validate_bounds


class ParetoWeightsState(NamedTuple):
    """State of :func:`pareto_weights`.

    Attributes:
      weights: f32[K], the weights of the last update (before the first update: ``c + s/K``).
      gram: f32[K, K], the Gram matrix of the last update's gradients (zeros before).
    """

    weights: jax.Array
    gram: jax.Array


def gram_matrix(objective_grads: Any) -> jax.Array:
    """Gram matrix f32[K, K] of per-objective gradients: ``Q_ij = <g_i, g_j>`` over all leaves."""
    leaves = jax.tree.leaves(objective_grads)
    return sum(
        jnp.einsum("ip,jp->ij", flat, flat, precision=jax.lax.Precision.HIGHEST)
        for flat in (leaf.reshape(leaf.shape[0], -1).astype(jnp.float32) for leaf in leaves)
    )


def combine_gradients(objective_grads: Any, weights: jax.Array) -> Any:
    """``sum_k w_k g_k`` for every leaf of a pytree with a leading objective axis."""
    return jax.tree.map(
        lambda leaf: jnp.tensordot(weights.astype(leaf.dtype), leaf, axes=1), objective_grads
    )


def value_and_objective_grads(
    loss_fn: Callable[..., jax.Array], params: Any, *args: Any
) -> tuple[jax.Array, Any]:
    """Losses f32[K] and their gradients (each leaf gains a leading K axis) in one pass.

    ``loss_fn(params, *args)`` must return the K losses as f32[K]. One forward pass, then the K
    backward passes batched with ``vmap`` (reverse-mode Jacobian).
    """
    losses, pullback = jax.vjp(lambda p: loss_fn(p, *args), params)
    (grads,) = jax.vmap(pullback)(jnp.eye(losses.shape[0], dtype=losses.dtype))
    return losses, grads


def pareto_weights(
    bounds: jax.Array | list[float],
    solver: str = "auto",
    lagged: bool = False,
) -> optax.GradientTransformation:
    """Combine per-objective gradients with Pareto-efficient weights (PE-LTR, Lin et al. 2019).

    Args:
      bounds: f32[K] lower bounds ``c`` on the weights (``c_i >= 0``, ``sum c < 1``). Concrete
        bounds are validated (ConfigError ``bounds``); traced bounds (a ``vmap`` over bound
        settings) are taken as given.
      solver: see :func:`jaxrec.pareto.solve_weights`.
      lagged: False (default) combines this step's gradients with the weights solved from them,
        which makes the update a common descent direction. True follows the paper's loop: combine
        with the previous step's weights, then solve the weights for the next batch.

    Returns:
      An ``optax.GradientTransformation``. ``update(grads, state, params=None)`` takes leaves of
      shape [K, ...] and returns leaves of shape [...]; the state is :class:`ParetoWeightsState`.
    """
    if not isinstance(bounds, jax.core.Tracer):
        bounds = validate_bounds(bounds)
    bounds = jnp.asarray(bounds, jnp.float32)
    if bounds.ndim != 1:
        raise ConfigError("bounds", f"expected a 1-D array of bounds, got shape {bounds.shape}")
    num_objectives = bounds.shape[0]
    solve = get_solver(solver, num_objectives)

    def init(params: Any) -> ParetoWeightsState:
        del params
        start = bounds + (1.0 - bounds.sum()) / num_objectives
        return ParetoWeightsState(start, jnp.zeros((num_objectives, num_objectives), jnp.float32))

    def update(
        updates: Any, state: ParetoWeightsState, params: Any = None
    ) -> tuple[Any, ParetoWeightsState]:
        del params
        for leaf in jax.tree.leaves(updates):
            if leaf.ndim == 0 or leaf.shape[0] != num_objectives:
                raise ConfigError(
                    "updates",
                    f"every gradient leaf needs a leading objective axis of size {num_objectives}, "
                    f"got shape {leaf.shape}",
                )
        gram = gram_matrix(updates)
        weights = solve(gram, bounds)
        combine_with = state.weights if lagged else weights
        return combine_gradients(updates, combine_with), ParetoWeightsState(weights, gram)

    return optax.GradientTransformation(init, update)


def pareto_weights_state(opt_state: Any) -> ParetoWeightsState:
    """Find the :class:`ParetoWeightsState` inside a (chained) optax state, for logging."""
    found = [
        node
        for node in jax.tree.leaves(
            opt_state, is_leaf=lambda node: isinstance(node, ParetoWeightsState)
        )
        if isinstance(node, ParetoWeightsState)
    ]
    if not found:
        raise ConfigError("opt_state", "no pareto_weights transformation in this optimizer state")
    return found[0]
