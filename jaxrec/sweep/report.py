"""Summaries of a sweep's results: per grid point, the mean and confidence interval over seeds.

A run's value of a metric is its average over the last ``window`` logged intervals (default 1: the
final interval); seeds are independent replicates, so the interval is Student's t:
``mean +- t_{0.975, n-1} s / sqrt(n)`` with ``s`` the sample standard deviation over ``n`` seeds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from jaxrec.errors import ConfigError

# Two-sided 95% Student t quantiles t_{0.975, df} for df = 1..30 (larger df use the normal 1.96).
_T975 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip

DEFAULT_METRICS = ("exposure_gini", "head_share", "reward", "active_producers")


def t_quantile_975(df: int) -> float:
    """The 0.975 quantile of Student's t with ``df`` degrees of freedom (table to 30, then ~1.96)."""
    if df < 1:
        return math.nan
    return _T975[df - 1] if df <= len(_T975) else 1.96 + 2.4 / df


def grid_columns(frame: pd.DataFrame) -> list[str]:
    """The grid-parameter columns of a results table (``env.*`` / ``policy.*``)."""
    return [c for c in frame.columns if c.startswith(("env.", "policy."))]


def summarise(frame: pd.DataFrame, metrics: Sequence[str], window: int = 1) -> pd.DataFrame:
    """One row per grid point: its grid values, ``n_seeds``, and ``<m>_mean``, ``<m>_ci95`` per metric.

    Args:
      frame: tidy results (:func:`jaxrec.sweep.runner.load_metrics`).
      metrics: metric columns to summarise.
      window: logged intervals at the end of each run to average (1 = the final one).
    """
    missing = [m for m in metrics if m not in frame.columns]
    if missing:
        raise ConfigError(
            "metrics", f"unknown metrics {missing}; the results have {list(frame.columns)}"
        )
    steps = np.sort(frame["step"].unique())
    tail = frame[frame["step"].isin(steps[-window:])]
    per_run = tail.groupby(["point", "seed"], sort=True)[list(metrics)].mean()
    rows = []
    for point, runs in per_run.groupby(level="point"):
        n = len(runs)
        row = {"point": point}
        first = frame.index[frame["point"] == point][0]
        row.update({c: frame.at[first, c] for c in grid_columns(frame)})
        row["n_seeds"] = n
        for m in metrics:
            values = runs[m].to_numpy(np.float64)
            row[f"{m}_mean"] = values.mean()
            sd = values.std(ddof=1) if n > 1 else math.nan
            row[f"{m}_ci95"] = t_quantile_975(n - 1) * sd / math.sqrt(n)
        rows.append(row)
    return pd.DataFrame(rows)


def plot_over_time(frame: pd.DataFrame, metric: str):
    """A figure of ``metric`` over steps, one line per grid point (mean over seeds, 95% band)."""
    import matplotlib.pyplot as plt

    from jaxrec.io import legend_outside, line_style

    fig, ax = plt.subplots(figsize=(8, 4))
    keys = grid_columns(frame)
    for i, (point, rows) in enumerate(frame.groupby("point", sort=True)):
        stats = rows.groupby("step")[metric].agg(["mean", "std", "count"])
        half = (
            np.array([t_quantile_975(int(c) - 1) for c in stats["count"]])
            * stats["std"].to_numpy()
            / np.sqrt(stats["count"].to_numpy())
        )
        first = rows.iloc[0]
        label = ", ".join(f"{k.split('.', 1)[1]}={first[k]}" for k in keys) or f"point {point}"
        style = line_style(i, len(stats))
        ax.plot(stats.index, stats["mean"], label=label, **style)
        if np.isfinite(half).any():
            ax.fill_between(
                stats.index,
                stats["mean"] - half,
                stats["mean"] + half,
                alpha=0.15,
                color=style["color"],
            )
    ax.set_xlabel("step")
    ax.set_ylabel(metric)
    ax.set_title(f"{metric}: mean over seeds, 95% confidence band")
    ax.grid(alpha=0.3)
    if frame["point"].nunique() <= 24:  # distinct styles up to 24 lines
        legend_outside(ax, fontsize="small")
    return fig


def write_report(
    out: str | Path,
    metrics: Sequence[str] = DEFAULT_METRICS,
    window: int = 1,
    frame: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, list[Path]]:
    """Write ``DIR/report/summary.csv`` and one ``<metric>.png`` per metric; return both.

    ``frame`` is a results table in the sweep's schema (``point``, ``seed``, ``step``, label
    columns ``env.*``/``policy.*``); by default the sweep results in ``out``.
    """
    from jaxrec.io import atomic_path, save_figure
    from jaxrec.sweep.runner import load_metrics

    out = Path(out)
    if frame is None:
        if not (out / "metrics.parquet").exists():
            raise ConfigError("dir", f"{out} holds no sweep results (no metrics.parquet)")
        frame = load_metrics(out)
    summary = summarise(frame, metrics, window)
    with atomic_path(out / "report" / "summary.csv") as tmp:
        summary.to_csv(tmp, index=False)
    figures = [
        save_figure(out / "report" / f"{metric}.png", plot_over_time(frame, metric))
        for metric in metrics
    ]
    return summary, figures


# the American spelling, kept for existing callers (jaxrec spells it summarise)
summarize = summarise
