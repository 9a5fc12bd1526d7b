"""Figures for simulation results (matplotlib, Agg backend, written atomically as PNG)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from jaxrec.io import save_figure
from jaxrec.metrics.exposure import lorenz_curve


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


_COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown")
_DASHES = ("-", "--", "-.", ":")
_MARKERS = ("o", "s", "^", "D", "v", "x", "P", "*")


def line_style(i: int, n_points: int = 0) -> dict:
    """Matplotlib keywords of line ``i``: colour, dash and marker all change from one line to the
    next (24 distinct combinations before a repeat), so lines that lie on top of each other stay
    distinguishable. ``n_points`` spaces about 8 markers along a line of that many points, shifted
    from one line to the next so that coinciding lines do not hide each other's markers."""
    every = max(1, n_points // 8)
    return {
        "color": _COLOURS[i % len(_COLOURS)],
        "linestyle": _DASHES[i % len(_DASHES)],
        "marker": _MARKERS[i % len(_MARKERS)],
        "markevery": ((i * every // 4) % every, every) if n_points else None,
        "markersize": 4,
        "markerfacecolor": "none",
    }


def legend_outside(ax, **kwargs) -> None:
    """A legend to the right of the axes, never over the data."""
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, **kwargs)


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
