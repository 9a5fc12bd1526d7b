"""Trace a PE-LTR frontier on an e-commerce log and compare it with a fixed-weight grid.

Protocol (what ``jaxrec pareto`` runs):

1. Probe: train with bounds ``c = 0`` (one setting x the seeds) and average the weights PE-LTR
   picks over the second half of training: the unconstrained weights ``w0``.
2. Frontier: train the ``num_settings`` bounded rows of
   :func:`jaxrec.pareto.adaptive_bound_grid` ``(w0, num_settings + 1)`` x seeds as one compiled
   program; its unconstrained row 0 is the probe. Each setting's point is the mean over seeds.
3. Baseline: train ``num_settings + 1`` fixed scalarisation weights (evenly spaced) x the same seeds,
   so both methods spend the same number of training runs.
4. Keep the non-dominated points of each method, compute each method's hypervolume against one
   fixed reference point (the metrics of uniformly random scores on the test lists), and pick the
   PE-LTR fair point by least misery among its non-dominated points.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from jaxrec.data.ecommerce import EcommerceData
from jaxrec.pareto.ecommerce import METRIC_NAMES, TrainConfig, random_scorer_point, train_runs
from jaxrec.pareto.frontier import (
    adaptive_bound_grid,
    fixed_weight_grid,
    hypervolume,
    least_misery,
    non_dominated,
)


@dataclass(frozen=True)
class FrontierResult:
    """``table``: one row per setting and method; ``summary``: the JSON-ready headline numbers."""

    table: pd.DataFrame
    summary: dict[str, Any]


def _method_table(
    method: str, settings: np.ndarray, results: dict[str, np.ndarray], objectives: Sequence[str]
) -> pd.DataFrame:
    points = results["objectives"].mean(axis=1)
    columns: dict[str, Any] = {"method": method}
    for k, name in enumerate(objectives):
        columns[f"bound_{name}"] = settings[:, k] if method == "pe-ltr" else np.nan
    for k, name in enumerate(objectives):
        columns[f"weight_{name}"] = results["weights"].mean(axis=1)[:, k]
    for k, name in enumerate(objectives):
        columns[name] = points[:, k]
        columns[f"{name}_std"] = results["objectives"].std(axis=1)[:, k]
    columns["dominated"] = ~np.asarray(non_dominated(points))
    return pd.DataFrame(columns)


def trace_frontier(
    data: EcommerceData,
    objectives: Sequence[str] = ("ctr", "gmv"),
    num_settings: int = 16,
    seeds: Sequence[int] = (0, 1, 2),
    config: TrainConfig | None = None,
    upper: float = 0.99,
) -> FrontierResult:
    """Run the protocol of the module docstring; see :class:`FrontierResult`."""
    objectives = tuple(objectives)
    config = config or TrainConfig()
    k = len(objectives)
    probe = train_runs(data, np.zeros((1, k)), seeds, objectives, config, mode="pareto")
    unconstrained = probe["weights"].mean(axis=(0, 1))
    # Row 0 of the grid is the unconstrained setting: the probe already trained it.
    bounds = adaptive_bound_grid(unconstrained, num_settings + 1, upper)
    bounded = train_runs(data, bounds[1:], seeds, objectives, config, mode="pareto")
    pareto = {name: np.concatenate([probe[name], bounded[name]]) for name in probe}
    fixed_weights = fixed_weight_grid(num_settings + 1, k)
    fixed = train_runs(data, fixed_weights, seeds, objectives, config, mode="fixed")

    table = pd.concat(
        [
            _method_table("pe-ltr", bounds, pareto, objectives),
            _method_table("fixed", fixed_weights, fixed, objectives),
        ],
        ignore_index=True,
    )
    reference = random_scorer_point(data, objectives)
    is_pe = (table["method"] == "pe-ltr").to_numpy()
    points = table[list(objectives)].to_numpy(np.float64)
    fair = int(
        np.flatnonzero(is_pe)[least_misery(points[is_pe], ~table["dominated"][is_pe].to_numpy())]
    )
    summary = {
        "data": data.name,
        "objectives": list(objectives),
        "metrics": [METRIC_NAMES[name] for name in objectives],
        "hypervolume": hypervolume(points[is_pe], reference),
        "hypervolume_fixed_grid": hypervolume(points[~is_pe], reference),
        "reference_point": dict(zip(objectives, reference.tolist(), strict=True)),
        "unconstrained_weights": dict(zip(objectives, unconstrained.tolist(), strict=True)),
        "fair_point": {
            "row": fair,
            **{f"bound_{n}": float(table.loc[fair, f"bound_{n}"]) for n in objectives},
            **{f"weight_{n}": float(table.loc[fair, f"weight_{n}"]) for n in objectives},
            **{n: float(table.loc[fair, n]) for n in objectives},
        },
        "runs": {
            "pe-ltr": len(bounds) * len(seeds),
            "fixed": len(fixed_weights) * len(seeds),
            "seeds": list(seeds),
        },
        "train": {
            "steps": config.steps,
            "batch_lists": config.batch_lists,
            "dim": config.dim,
            "learning_rate": config.learning_rate,
            "solver": config.solver,
        },
    }
    return FrontierResult(table, summary)


def plot_frontier(result: FrontierResult, ax: Any = None) -> Any:
    """Scatter both methods' points (first two objectives), their frontiers, and the fair point."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 4.2))
    table = result.table
    x_name, y_name = result.summary["objectives"][:2]
    styles = {
        "pe-ltr": ("tab:blue", "o", "PE-LTR (adaptive bounds)"),
        "fixed": ("tab:gray", "s", "fixed weights"),
    }
    for method, (color, marker, label) in styles.items():
        rows = table[table["method"] == method]
        front = rows[~rows["dominated"]].sort_values(x_name)
        hv = result.summary["hypervolume" if method == "pe-ltr" else "hypervolume_fixed_grid"]
        ax.scatter(rows[x_name], rows[y_name], c=color, marker=marker, alpha=0.45, s=22)
        ax.plot(front[x_name], front[y_name], c=color, marker=marker, label=f"{label}, HV {hv:.4g}")
    fair = result.summary["fair_point"]
    ax.scatter(
        [fair[x_name]],
        [fair[y_name]],
        marker="*",
        s=220,
        c="tab:red",
        label="fair point (least misery)",
        zorder=5,
    )
    reference = result.summary["reference_point"]
    ax.set_xlabel(f"{METRIC_NAMES[x_name]} ({x_name}); reference {reference[x_name]:.3f}")
    ax.set_ylabel(f"{METRIC_NAMES[y_name]} ({y_name}); reference {reference[y_name]:.3f}")
    ax.set_title(f"Pareto frontier on {result.summary['data']}")
    ax.legend(fontsize=8)
    return ax.figure
