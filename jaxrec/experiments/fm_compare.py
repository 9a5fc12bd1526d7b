"""The tuned FM-family comparison on the test split: trivial rows, user-bootstrap CIs, paired tests.

Rows: every tuned model (:mod:`jaxrec.experiments.fm_tuning`) plus two trivial scorers, ``popularity``
(the item's number of training positives) and ``random`` (uniform scores). Every figure — AUC, log
loss, the bucket AUCs, STD and EFGD, each averaged over the training seeds — gets a percentile
bootstrap interval from resampling the test split's *users* with replacement (a user's test samples
are not independent of each other; users are), and every model is compared with FM (and D-AAFM with
AAFM, FM with popularity) on the same bootstrap draws: a difference is significant when its
interval excludes 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxrec.data.features import (
    FeatureDataset,
    evaluation_groups,
    group_summary,
    log_fairness_score,
)
from jaxrec.metrics.bootstrap import group_aucs_and_log_loss, percentile_interval, resample_counts
from jaxrec.models.fm_training import predict_logits

SCALARS = ("auc", "log_loss", "std", "efgd")
TRIVIAL = ("popularity", "random")
# (model, reference) pairs whose paired differences are reported when both are present.
PAIRS = (("advfm", "fm"), ("aafm", "fm"), ("daafm", "fm"), ("daafm", "aafm"), ("fm", "popularity"))


def field_column(dataset: FeatureDataset, name: str, default: int) -> int:
    """Index of field ``name`` (``default`` when the data has no such field, e.g. synthetic)."""
    return dataset.field_names.index(name) if name in dataset.field_names else default


def _local(dataset: FeatureDataset, ids: np.ndarray, field: int) -> np.ndarray:
    return ids[:, field] - dataset.field_offsets[field]


def popularity_logits(dataset: FeatureDataset, split: str = "test") -> np.ndarray:
    """f32[1, N]: a logistic fit (on the training split) of the label on ``log1p`` of the item's
    training-positive count; its ranking is the count's, its log loss that of a calibrated count."""
    item = field_column(dataset, "item", 1)
    train = dataset.train
    counts = np.bincount(
        _local(dataset, train.feature_ids[train.labels > 0.5], item),
        minlength=dataset.field_sizes[item],
    )
    x_train = np.log1p(counts[_local(dataset, train.feature_ids, item)])
    design = np.stack([np.ones_like(x_train), x_train], axis=1)
    coef = np.zeros(2)
    for _ in range(25):  # Newton's method on the 2-parameter logistic likelihood
        p = 1 / (1 + np.exp(-design @ coef))
        hessian = design.T @ (design * (p * (1 - p))[:, None]) + 1e-9 * np.eye(2)
        coef -= np.linalg.solve(hessian, design.T @ (p - train.labels))
    x = np.log1p(counts[_local(dataset, getattr(dataset, split).feature_ids, item)])
    return (coef[0] + coef[1] * x)[None, :].astype(np.float32)


def random_logits(dataset: FeatureDataset, seed: int = 0, split: str = "test") -> np.ndarray:
    """f32[1, N]: tiny uniform scores around logit 0 (a random ranking at probability 0.5)."""
    n = len(getattr(dataset, split))
    return (1e-3 * np.random.default_rng(seed).uniform(-1, 1, n))[None, :].astype(np.float32)


def bootstrap_table(
    dataset: FeatureDataset,
    logits: dict[str, np.ndarray],
    n_draws: int = 1000,
    seed: int = 0,
    pairs: Sequence[tuple[str, str]] = PAIRS,
) -> dict[str, Any]:
    """Point estimates, user-bootstrap intervals and paired differences on the test split.

    Args:
      dataset: the data; test users are the resampling units (every sample its own unit when the
        data has no ``user`` field).
      logits: model name -> f32[S, N] test logits (S training seeds, averaged per draw).
      n_draws: bootstrap resamples.
      pairs: ``(model, reference)`` pairs to difference when both are in ``logits``.

    Returns:
      ``{"models": {name: {figure: {"mean", "ci_low", "ci_high"}}}, "differences": {"a-b":
      {figure: {"mean", "ci_low", "ci_high", "significant"}}}, "n_draws", "units"}``; ``figure`` is
      auc, log_loss, std, efgd or ``bucket_auc`` (lists, rarest bucket first).
    """
    test = dataset.test
    labels = jnp.asarray(test.labels)
    key = log_fairness_score(test.feature_ids, dataset.alpha, dataset.beta)
    groups = evaluation_groups(labels, key, shared_pool=dataset.shared_pool)
    user = field_column(dataset, "user", -1)
    if user >= 0:
        _, unit = np.unique(_local(dataset, test.feature_ids, user), return_inverse=True)
    else:
        unit = np.arange(len(test))
    n_units = int(unit.max()) + 1
    counts = resample_counts(jax.random.key(seed), n_units, n_draws)
    counts = jnp.concatenate([jnp.ones((1, n_units)), counts])  # row 0: the data as it is

    figures: dict[str, dict[str, np.ndarray]] = {}
    for name, scores in logits.items():
        overall, per_group, loss = group_aucs_and_log_loss(
            labels, jnp.asarray(scores), groups, jnp.asarray(unit), counts
        )
        summary = group_summary(overall.mean(axis=1), per_group)
        summary["bucket_auc"] = summary["bucket_auc"].mean(axis=1)
        summary["std"] = summary["std"].mean(axis=1)
        summary["efgd"] = summary["efgd"].mean(axis=1)
        summary["log_loss"] = loss.mean(axis=1)
        figures[name] = {k: np.asarray(v, np.float64) for k, v in summary.items()}

    def interval(values: np.ndarray) -> dict[str, Any]:
        low, high = percentile_interval(values[1:])
        return {"mean": values[0].tolist(), "ci_low": low.tolist(), "ci_high": high.tolist()}

    models = {
        name: {figure: interval(values) for figure, values in rows.items()}
        for name, rows in figures.items()
    }
    differences = {}
    for a, b in pairs:
        if a in figures and b in figures:
            differences[f"{a}-{b}"] = {}
            for figure in figures[a]:
                cell = interval(figures[a][figure] - figures[b][figure])
                low, high = np.asarray(cell["ci_low"]), np.asarray(cell["ci_high"])
                cell["significant"] = ((low > 0) | (high < 0)).tolist()
                differences[f"{a}-{b}"][figure] = cell
    return {"models": models, "differences": differences, "n_draws": n_draws, "units": n_units}


def split_logits(params: Any, dataset: FeatureDataset) -> np.ndarray:
    """f32[S, N] test logits of stacked (seed-axis) FM parameters."""
    return np.asarray(predict_logits(params, jnp.asarray(dataset.test.feature_ids)))


def _cell(row: dict[str, Any], index: int | None = None) -> str:
    pick = (lambda v: v) if index is None else (lambda v: v[index])
    return f"{pick(row['mean']):.4f} [{pick(row['ci_low']):.4f},{pick(row['ci_high']):.4f}]"


def format_comparison(table: dict[str, Any], chosen: dict[str, dict[str, float]]) -> str:
    """Text tables: figures with 95% user-bootstrap intervals, bucket AUCs, paired differences
    (``ns`` = interval covers 0) and each model's chosen hyper-parameters."""
    models = table["models"]
    width = 26
    lines = [f"{'model':<11}" + "".join(f"{m.upper():>{width}}" for m in SCALARS)]
    lines += [
        f"{name:<11}" + "".join(f"{_cell(row[m]):>{width}}" for m in SCALARS)
        for name, row in models.items()
    ]
    n_buckets = len(next(iter(models.values()))["bucket_auc"]["mean"])
    lines += [
        "",
        f"{'model':<11}" + "".join(f"{'B' + str(b + 1):>{width}}" for b in range(n_buckets)),
    ]
    lines += [
        f"{name:<11}" + "".join(f"{_cell(row['bucket_auc'], b):>{width}}" for b in range(n_buckets))
        for name, row in models.items()
    ]
    lines.append(
        f"(B1 = rarest feature combinations; [low,high] = 95% interval over {table['n_draws']} "
        f"bootstrap resamples of the {table['units']} test users)"
    )
    if table["differences"]:
        lines += ["", f"{'difference':<16}" + "".join(f"{m.upper():>{width}}" for m in SCALARS)]
        for pair, row in table["differences"].items():
            cells = []
            for m in SCALARS:
                mark = "" if row[m]["significant"] else " ns"
                cells.append(
                    f"{row[m]['mean']:+.4f} [{row[m]['ci_low']:+.4f},{row[m]['ci_high']:+.4f}]{mark}"
                )
            lines.append(f"{pair:<16}" + "".join(f"{c:>{width + 3}}" for c in cells))
        lines.append("(paired on the same resamples; ns = the interval covers 0: not significant)")
    if chosen:
        lines += ["", "chosen on validation AUC:"]
        for name, values in chosen.items():
            lines.append(f"  {name:<7} " + ", ".join(f"{k}={v:g}" for k, v in values.items()))
    return "\n".join(lines)


def plot_bucket_auc(models: dict[str, Any]):
    """Grouped bars: test AUC per bucket and row, with the 95% bootstrap intervals as error bars."""
    from jaxrec.experiments.fm import plot_bucket_bars

    means, errors = {}, {}
    for name, row in models.items():
        cell = row["bucket_auc"]
        means[name] = np.asarray(cell["mean"])
        bounds = np.stack([np.asarray(cell["ci_low"]), np.asarray(cell["ci_high"])])
        errors[name] = np.abs(bounds - means[name])
    return plot_bucket_bars(means, errors)
