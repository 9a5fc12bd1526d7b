"""Pareto-efficient multi-objective training (PE-LTR) and Pareto frontier tools.

- :func:`pareto_weights`: an optax gradient transformation that combines per-objective gradients
  with the weights solved each step (chain it with any optimizer). For embedding tables,
  :func:`value_and_row_objective_grads` keeps the per-objective gradients on the looked-up rows
  (:class:`RowGrads`), so the Gram and combine cost O(batch), not O(table);
  :func:`value_and_shared_grads` solves the weights on the gradients of a shared representation
  (:class:`SharedGrads`, MGDA-UB, Sener & Koltun 2018) and combines with one backward pass.
- Solvers of the min-norm weight problem: :func:`solve_two_objectives` (exact, K = 2),
  :func:`solve_active_set` (exact, small K), :func:`solve_projected_gradient` (any K),
  :func:`solve_two_step` (the paper's method, stable form).
- Frontier tools: :func:`non_dominated`, :func:`hypervolume`, :func:`least_misery`,
  :func:`adaptive_bound_grid`, :func:`fit_weight_path`, :func:`hypervolume_gain_weights`,
  :func:`bounds_for_weights`, :func:`fixed_weight_grid`.
"""

from jaxrec.pareto.frontier import (
    adaptive_bound_grid,
    bounds_for_weights,
    fit_weight_path,
    fixed_weight_grid,
    hypervolume,
    hypervolume_2d,
    hypervolume_gain_weights,
    least_misery,
    non_dominated,
)
from jaxrec.pareto.solvers import (
    SOLVERS,
    normalize_gram,
    project_to_simplex,
    solve_active_set,
    solve_projected_gradient,
    solve_two_objectives,
    solve_two_step,
    solve_weights,
    validate_bounds,
    weights_objective,
)
from jaxrec.pareto.transform import (
    ParetoWeightsState,
    RowGrads,
    SharedGrads,
    combine_gradients,
    gram_matrix,
    pareto_weights,
    pareto_weights_state,
    value_and_objective_grads,
    value_and_row_objective_grads,
    value_and_shared_grads,
)

__all__ = [
    "SOLVERS",
    "ParetoWeightsState",
    "RowGrads",
    "SharedGrads",
    "adaptive_bound_grid",
    "bounds_for_weights",
    "combine_gradients",
    "fit_weight_path",
    "fixed_weight_grid",
    "gram_matrix",
    "hypervolume",
    "hypervolume_2d",
    "hypervolume_gain_weights",
    "least_misery",
    "non_dominated",
    "normalize_gram",
    "pareto_weights",
    "pareto_weights_state",
    "project_to_simplex",
    "solve_active_set",
    "solve_projected_gradient",
    "solve_two_objectives",
    "solve_two_step",
    "solve_weights",
    "validate_bounds",
    "value_and_objective_grads",
    "value_and_row_objective_grads",
    "value_and_shared_grads",
    "weights_objective",
]
