"""The AAFM paper's experiments on a :class:`~jaxrec.data.features.FeatureDataset`: the model comparison
(Tables 1-2: AUC, log loss, EFGD, STD and bucket AUCs, mean and std over seeds), the stability case
study (per-epoch validation AUC of the rarest bucket), the ``t`` sweep (accuracy vs fairness) and the
robustness table (relative AUC drop under random embedding noise of a given norm).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import jax
import numpy as np

from jaxrec.data.features import FeatureDataset
from jaxrec.models import FMTrainConfig, TrainResult, evaluate, model_config, perturbed_auc, train

SCALAR_METRICS = ("auc", "log_loss", "efgd", "std")
NOISE_NORMS = (0.5, 1.0, 2.0)


def mean_std(values: np.ndarray) -> dict[str, Any]:
    """``{"mean", "std"}`` over the leading (seed) axis; arrays stay arrays (e.g. bucket AUCs)."""
    values = np.asarray(values, np.float64)
    return {"mean": values.mean(axis=0).tolist(), "std": values.std(axis=0).tolist()}


def compare_models(
    dataset: FeatureDataset,
    names: Sequence[str],
    config: FMTrainConfig,
    seeds: Sequence[int],
    overrides: dict[str, Any] | None = None,
    progress: Callable[[str, int, np.ndarray], None] | None = None,
) -> tuple[dict[str, TrainResult], dict[str, dict[str, Any]]]:
    """Train every model in ``names`` (all seeds batched) and summarise its test metrics.

    ``overrides`` are :class:`~jaxrec.models.adversarial.AdversaryConfig` fields applied to the
    adversarial models (e.g. ``{"reweight_t": 100.0}``). Returns the training results and, per model,
    ``{metric: {"mean", "std"}}`` for AUC, log loss, EFGD, STD and ``bucket_auc`` (rarest first),
    plus ``best_epoch`` per seed and, for AAFM/D-AAFM, the learned ``omega`` per field.
    """
    results, summary = {}, {}
    for name in names:
        fields = {f.name for f in dataclasses.fields(model_config(name))}
        applicable = {k: v for k, v in (overrides or {}).items() if name != "fm" and k in fields}
        adversary = model_config(name, **applicable)
        report = None if progress is None else (lambda e, auc, n=name: progress(n, e, auc))
        result = train(dataset, adversary, config, seeds, progress=report)
        metrics = evaluate(result.params, dataset, "test")
        results[name] = result
        summary[name] = {key: mean_std(metrics[key]) for key in (*SCALAR_METRICS, "bucket_auc")}
        summary[name]["best_epoch"] = result.best_epoch.tolist()
        if "omega" in result.params:
            summary[name]["omega"] = mean_std(result.params["omega"])
    return results, summary


def robustness(
    results: dict[str, TrainResult],
    dataset: FeatureDataset,
    norms: Sequence[float] = NOISE_NORMS,
    seed: int = 0,
) -> dict[str, dict[str, Any]]:
    """Relative test-AUC drop ``(AUC - AUC_noisy) / AUC`` per model and noise norm (mean/std over
    seeds); every model sees the same noise draw for a given norm."""
    table = {}
    for name, result in results.items():
        clean = evaluate(result.params, dataset, "test")["auc"]
        table[name] = {}
        for i, norm in enumerate(norms):
            noisy = perturbed_auc(result.params, dataset, norm, jax.random.key(seed + i))
            table[name][str(norm)] = mean_std((clean - noisy) / clean)
    return table


def t_sweep(
    dataset: FeatureDataset,
    ts: Sequence[float],
    config: FMTrainConfig,
    seeds: Sequence[int],
    overrides: dict[str, Any] | None = None,
    model: str = "aafm",
) -> list[dict[str, Any]]:
    """Train ``model`` for each re-weighting scale ``t`` (other ``overrides`` as in
    :func:`compare_models`); one row per ``t`` with test AUC, STD and EFGD (mean/std over seeds)."""
    rows = []
    for t in ts:
        fields = {**(overrides or {}), "reweight_t": float(t)}
        _, summary = compare_models(dataset, [model], config, seeds, fields)
        rows.append({"t": float(t), **{k: summary[model][k] for k in ("auc", "std", "efgd")}})
    return rows


def format_tables(summary: dict[str, dict[str, Any]]) -> str:
    """The paper's Tables 1 and 2 in text: overall metrics, then the six bucket AUCs (mean ± std)."""
    cell = lambda s, i=None: (  # noqa: E731
        f"{s['mean']:.4f}±{s['std']:.4f}" if i is None else f"{s['mean'][i]:.4f}±{s['std'][i]:.4f}"
    )
    head = f"{'model':<7}" + "".join(f"{m.upper():>16}" for m in ("auc", "logloss", "efgd", "std"))
    lines = [head] + [
        f"{name:<7}" + "".join(f"{cell(row[m]):>16}" for m in SCALAR_METRICS)
        for name, row in summary.items()
    ]
    n_buckets = len(next(iter(summary.values()))["bucket_auc"]["mean"])
    lines += ["", f"{'model':<7}" + "".join(f"{'B' + str(b + 1):>16}" for b in range(n_buckets))]
    lines += [
        f"{name:<7}" + "".join(f"{cell(row['bucket_auc'], b):>16}" for b in range(n_buckets))
        for name, row in summary.items()
    ]
    lines.append("(B1 = rarest feature combinations by prod alpha*beta; ± = std over seeds)")
    return "\n".join(lines)


def format_robustness(table: dict[str, dict[str, Any]]) -> str:
    norms = list(next(iter(table.values())))
    lines = [f"{'model':<7}" + "".join(f"{'noise ' + n:>18}" for n in norms)]
    lines += [
        f"{name:<7}"
        + "".join(
            f"{100 * row[n]['mean']:>8.2f}%±{100 * row[n]['std']:.2f}%".rjust(18) for n in norms
        )
        for name, row in table.items()
    ]
    lines.append(
        "(relative test-AUC drop after adding random noise of that norm to every embedding)"
    )
    return "\n".join(lines)


def plot_bucket_auc(summary: dict[str, dict[str, Any]]):
    """Grouped bars: bucket AUC per model, with seed std as error bars."""
    rows = {name: row["bucket_auc"] for name, row in summary.items()}
    return plot_bucket_bars(
        {name: cell["mean"] for name, cell in rows.items()},
        {name: cell["std"] for name, cell in rows.items()},
    )


def plot_bucket_bars(means: dict[str, Any], errors: dict[str, Any]):
    """Grouped bars of test AUC per bucket, one group per bucket and one bar per row name;
    ``errors[name]`` is what matplotlib's ``yerr`` takes (f[B] symmetric, or f[2, B] low/high)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.5))
    width = 0.8 / len(means)
    for i, (name, mean) in enumerate(means.items()):
        mean = np.asarray(mean)
        x = np.arange(len(mean)) + (i - (len(means) - 1) / 2) * width
        ax.bar(x, mean, width, yerr=errors[name], label=name)
    ax.set_xticks(range(len(mean)), [f"B{b + 1}" for b in range(len(mean))])
    ax.set_xlabel("bucket (B1 = rarest feature combinations)")
    ax.set_ylabel("test AUC")
    low = min(float(np.min(m)) for m in means.values())
    ax.set_ylim(max(0.0, low - 0.05), 1.0)
    ax.legend(ncol=len(means), fontsize=8)
    return fig


def plot_rarest_bucket_history(results: dict[str, TrainResult]):
    """Stability case study: validation AUC of the rarest bucket per epoch (mean over seeds)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for name, result in results.items():
        curve = np.asarray(result.history["val_rarest_bucket_auc"]).mean(axis=1)
        ax.plot(np.arange(1, len(curve) + 1), curve, marker=".", label=name)
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation AUC, rarest bucket")
    ax.legend(fontsize=8)
    return fig


def plot_tradeoff(rows: list[dict[str, Any]], reference: dict[str, dict[str, Any]] | None = None):
    """Accuracy vs fairness over the ``t`` sweep (AUC against STD), optional reference models."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot([r["std"]["mean"] for r in rows], [r["auc"]["mean"] for r in rows], marker="o")
    for r in rows:
        ax.annotate(f"t={r['t']:g}", (r["std"]["mean"], r["auc"]["mean"]), fontsize=8)
    for name, row in (reference or {}).items():
        ax.scatter(row["std"]["mean"], row["auc"]["mean"], marker="x", label=name)
    ax.set_xlabel("STD of bucket AUCs (lower is fairer)")
    ax.set_ylabel("test AUC")
    if reference:
        ax.legend(fontsize=8)
    return fig
