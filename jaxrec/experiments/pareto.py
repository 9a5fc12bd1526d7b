"""Trace a PE-LTR frontier on a logged-list dataset and compare it with a fixed-weight grid.

Protocol (what ``jaxrec pareto`` runs), every training program a ``vmap`` over settings x seeds:

1. Probe: train with bounds ``c = 0`` (one setting x the seeds) and average the weights PE-LTR
   picks over the second half of training: the unconstrained weights ``w0``.
2. Round 1: train ``first_round`` bounded rows of :func:`jaxrec.pareto.adaptive_bound_grid`
   ``(w0, first_round + 1)``; its unconstrained row 0 is the probe.
3. Adaptive rounds (K = 2): the remaining ``num_settings - first_round`` settings, split over
   ``adaptive_rounds`` rounds. Before each, a smooth model of the frontier along the weight path is
   fitted to the points so far (:func:`jaxrec.pareto.fit_weight_path`), and the weights whose
   predicted points add the most hypervolume are picked
   (:func:`jaxrec.pareto.hypervolume_gain_weights`) and trained through the bounds that bind at
   them (:func:`jaxrec.pareto.bounds_for_weights`). Runs go to the gaps of the frontier and around
   an objective's interior peak, not to weights whose points are dominated. Rounds of equal size
   share one compiled program.
4. Baseline: train ``num_settings + 1`` fixed scalarisation weights (evenly spaced) x the same seeds,
   so both methods spend the same number of training runs.
5. Each setting's point is its mean over seeds. Keep the non-dominated points of each method,
   compute each method's hypervolume against one fixed reference point
   (:func:`jaxrec.pareto.ecommerce.reference_point`), and also per seed (the frontier of one
   seed's runs), so the comparison is paired over seeds; pick the PE-LTR fair point by least
   misery among its non-dominated points.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import jax.numpy as jnp
import numpy as np
import pandas as pd

from jaxrec.data.ecommerce import EcommerceData
from jaxrec.errors import ConfigError
from jaxrec.pareto.ecommerce import ParetoTrainConfig, log_arrays, make_train_fn, reference_point
from jaxrec.pareto.frontier import (
    adaptive_bound_grid,
    bounds_for_weights,
    fixed_weight_grid,
    hypervolume,
    hypervolume_gain_weights,
    least_misery,
    non_dominated,
)
from jaxrec.pareto.objectives import OBJECTIVE_METRICS


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


def _per_seed_hypervolumes(results: dict[str, np.ndarray], reference: np.ndarray) -> list[float]:
    """Hypervolume of each seed's frontier: results["objectives"] f32[M, R, K] -> R values."""
    runs = results["objectives"].astype(np.float64)
    return [hypervolume(runs[:, seed], reference) for seed in range(runs.shape[1])]


def _mean_and_stderr(values: np.ndarray) -> dict[str, float]:
    """Mean and standard error of the mean (0 for a single value)."""
    stderr = values.std(ddof=1) / np.sqrt(len(values)) if len(values) > 1 else 0.0
    return {"mean": float(values.mean()), "stderr": float(stderr)}


def _concatenate_rounds(rounds: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """The results of training rounds as one, settings in the order they were trained."""
    return {name: np.concatenate([r[name] for r in rounds]) for name in rounds[0]}


def _round_sizes(total: int, rounds: int) -> list[int]:
    """``total`` settings split into at most ``rounds`` rounds, largest first: 8, 3 -> 3, 3, 2."""
    rounds = max(1, min(rounds, total))
    base, extra = divmod(total, rounds)
    return [base + (i < extra) for i in range(rounds) if base + (i < extra)]


def trace_frontier(
    data: EcommerceData,
    objectives: Sequence[str] = ("ctr", "gmv"),
    num_settings: int = 16,
    seeds: Sequence[int] = (0, 1, 2),
    config: ParetoTrainConfig | None = None,
    upper: float = 0.99,
    first_round: int | None = None,
    adaptive_rounds: int = 2,
    progress: bool = False,
) -> FrontierResult:
    """Run the protocol of the module docstring; see :class:`FrontierResult`.

    ``progress`` shows a bar over the settings trained (each a batch of seeds in one program):
    the unconstrained probe, the rounds of PE-LTR settings, then the fixed-weight grid.

    ``first_round`` (default ``ceil(num_settings / 2)`` for K = 2, all of them otherwise) bounded
    settings go to the adaptive grid, the rest to ``adaptive_rounds`` rounds picked by predicted
    hypervolume gain (:func:`pe_ltr_rounds`); the fixed-weight grid gets as many settings plus one
    (:func:`fixed_grid`), and :func:`frontier_summary` compares the two.
    """
    objectives = tuple(objectives)
    config = config or ParetoTrainConfig()
    k = len(objectives)
    if first_round is None:
        first_round = -(-num_settings // 2) if k == 2 else num_settings
    if not k <= first_round <= num_settings or (k != 2 and first_round != num_settings):
        raise ConfigError(
            "first_round",
            f"must lie in [{k}, {num_settings}] (and equal num_settings unless K = 2), "
            f"got {first_round}",
        )
    if adaptive_rounds < 1:
        raise ConfigError("adaptive_rounds", f"must be >= 1, got {adaptive_rounds}")
    train = log_arrays(data.train, data.catalogue)
    test = log_arrays(data.test, data.catalogue)
    seed_array = jnp.asarray(seeds, jnp.int32)
    from tqdm.auto import tqdm

    bar = tqdm(total=2 * num_settings + 2, unit="setting", desc="PE-LTR", disable=not progress)

    def runner(method: str):
        run = make_train_fn(data, objectives, config, method)

        def train_at(settings: np.ndarray) -> dict[str, np.ndarray]:
            results = run(jnp.asarray(settings, jnp.float32), seed_array, train, test)
            results = {name: np.asarray(value) for name, value in results.items()}
            bar.update(len(settings))
            return results

        return train_at

    reference = reference_point(data, objectives)
    round_sizes = _round_sizes(num_settings - first_round, adaptive_rounds)
    rounds = pe_ltr_rounds(runner("pareto"), k, first_round, round_sizes, reference, upper)
    fixed_weights = fixed_weight_grid(num_settings + 1, k)
    bar.set_description("fixed grid")
    fixed = runner("fixed")(fixed_weights)
    bar.close()
    table = pd.concat(
        [
            _method_table("pe-ltr", rounds.bounds, rounds.results, objectives),
            _method_table("fixed", fixed_weights, fixed, objectives),
        ],
        ignore_index=True,
    )
    schedule = {
        "first_round_settings": first_round,
        "adaptive_settings": num_settings - first_round,
        "adaptive_rounds": len(round_sizes),
    }
    summary = frontier_summary(
        data, objectives, table, rounds, fixed, reference, seeds, config, schedule
    )
    return FrontierResult(table, summary)


@dataclass(frozen=True)
class Rounds:
    """PE-LTR training over rounds: ``bounds`` f[M, K] of every setting in training order, their
    ``results`` (weights and objectives [M, R, K]) and the ``unconstrained`` weights f[K]."""

    bounds: np.ndarray
    results: dict[str, np.ndarray]
    unconstrained: np.ndarray


def pe_ltr_rounds(
    train_at,
    k: int,
    first_round: int,
    round_sizes: Sequence[int],
    reference: np.ndarray,
    upper: float,
) -> Rounds:
    """Train PE-LTR unconstrained (the probe), then on ``first_round`` bounds of the adaptive grid
    around the unconstrained weights, then one round per entry of ``round_sizes`` at the weights
    a frontier model fitted to every run so far predicts to add the most hypervolume.

    ``train_at(bounds f[M, K]) -> results`` trains every setting x seed as one program.
    """
    probe = train_at(np.zeros((1, k)))
    unconstrained = probe["weights"].mean(axis=(0, 1))
    # Row 0 of the grid is the unconstrained setting: the probe already trained it.
    bounds = adaptive_bound_grid(unconstrained, first_round + 1, upper)
    rounds = [probe, train_at(bounds[1:])]
    for size in round_sizes:
        trained = _concatenate_rounds(rounds)
        targets = hypervolume_gain_weights(
            trained["weights"].mean(axis=1)[:, 0],
            trained["objectives"].mean(axis=1),
            reference,
            size,
            span=(1.0 - upper, upper),
        )
        picked = bounds_for_weights(targets, unconstrained, upper)
        rounds.append(train_at(picked))
        bounds = np.concatenate([bounds, picked])
    return Rounds(bounds, _concatenate_rounds(rounds), unconstrained)


def frontier_summary(
    data: EcommerceData,
    objectives: tuple[str, ...],
    table: pd.DataFrame,
    rounds: Rounds,
    fixed: dict[str, np.ndarray],
    reference: np.ndarray,
    seeds: Sequence[int],
    config: ParetoTrainConfig,
    schedule: dict[str, int],
) -> dict[str, Any]:
    """The JSON-ready headline numbers: hypervolumes of both methods (pooled and per seed), the
    least-misery fair point of PE-LTR, run counts (with the round ``schedule``) and the training
    settings."""
    is_pe = (table["method"] == "pe-ltr").to_numpy()
    points = table[list(objectives)].to_numpy(np.float64)
    fair = int(
        np.flatnonzero(is_pe)[least_misery(points[is_pe], ~table["dominated"][is_pe].to_numpy())]
    )
    per_seed = _per_seed_hypervolumes(rounds.results, reference)
    per_seed_fixed = _per_seed_hypervolumes(fixed, reference)
    return {
        "data": data.name,
        "objectives": list(objectives),
        "metrics": [OBJECTIVE_METRICS[name] for name in objectives],
        "hypervolume": hypervolume(points[is_pe], reference),
        "hypervolume_fixed_grid": hypervolume(points[~is_pe], reference),
        "hypervolume_per_seed": per_seed,
        "hypervolume_fixed_grid_per_seed": per_seed_fixed,
        "seeds_pe_ltr_at_least_fixed": int(np.sum(np.asarray(per_seed) >= per_seed_fixed)),
        "hypervolume_per_seed_difference": _mean_and_stderr(
            np.asarray(per_seed) - np.asarray(per_seed_fixed)
        ),
        "reference_point": dict(zip(objectives, reference.tolist(), strict=True)),
        "unconstrained_weights": dict(zip(objectives, rounds.unconstrained.tolist(), strict=True)),
        "fair_point": {
            "row": fair,
            **{f"bound_{n}": float(table.loc[fair, f"bound_{n}"]) for n in objectives},
            **{f"weight_{n}": float(table.loc[fair, f"weight_{n}"]) for n in objectives},
            **{n: float(table.loc[fair, n]) for n in objectives},
        },
        "runs": {
            "pe-ltr": len(rounds.bounds) * len(seeds),
            "fixed": int(np.sum(~is_pe)) * len(seeds),
            "seeds": list(seeds),
            **schedule,
        },
        "train": {
            "steps": config.steps,
            "batch_lists": config.batch_lists,
            "dim": config.dim,
            "learning_rate": config.learning_rate,
            "solver": config.solver,
            "gram": config.gram,
            "lr_schedule": config.lr_schedule,
            "weight_momentum": config.weight_momentum,
        },
    }


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
    ax.set_xlabel(f"{OBJECTIVE_METRICS[x_name]} ({x_name}); reference {reference[x_name]:.3f}")
    ax.set_ylabel(f"{OBJECTIVE_METRICS[y_name]} ({y_name}); reference {reference[y_name]:.3f}")
    ax.set_title(f"Pareto frontier on {result.summary['data']}")
    ax.legend(fontsize=8)
    return ax.figure
