"""Figures for simulation results (matplotlib, Agg backend, written atomically as PNG)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from jaxrec.io import legend_outside, line_style, save_figure
from jaxrec.metrics.exposure import lorenz_curve


def _pyplot():
    # never switches the backend: the caller's (a notebook's inline one, or Agg, which the CLI
    # selects through MPLBACKEND) stays in place
    import matplotlib.pyplot as plt

    return plt


def plot_metric_over_time(
    frame: pd.DataFrame,
    metric: str,
    path: str | Path,
    group: str = "policy",
    ylabel: str = "",
    title: str = "",
) -> Path:
    """Mean over worlds of ``metric`` against step, one line per ``group``, with a min-max band."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.4, 4.0))
    for i, (name, part) in enumerate(frame.groupby(group, sort=False)):
        by_step = part.groupby("step")[metric]
        mean, low, high = by_step.mean(), by_step.min(), by_step.max()
        style = line_style(i, len(mean))
        ax.plot(mean.index, mean.values, label=str(name), **style)
        ax.fill_between(mean.index, low.values, high.values, alpha=0.15, color=style["color"])
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel or metric)
    ax.set_title(title or f"{ylabel or metric} over time (mean over worlds, min-max band)")
    ax.grid(alpha=0.3)
    legend_outside(ax, title=group)
    return save_figure(path, fig)


def plot_lorenz(finals: dict[str, dict[str, np.ndarray]], path: str | Path) -> Path:
    """Lorenz curves of final cumulative item exposure (live items of world 0), per policy."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.8, 4.8))
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="equal exposure")
    for i, (name, final) in enumerate(finals.items()):
        exposure = final["item_exposure"][0][final["item_alive"][0]]
        x, y = lorenz_curve(exposure)
        ax.plot(x, y, label=name, **line_style(i, len(x)))
    ax.set_xlabel("share of items (least exposed first)")
    ax.set_ylabel("share of exposure")
    ax.set_title("Lorenz curve of final exposure (world 0)")
    ax.grid(alpha=0.3)
    legend_outside(ax)
    return save_figure(path, fig)
