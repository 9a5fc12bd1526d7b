"""Per-step arrays into tidy tables: the one builder behind every result frame of a chunked run
(simulations, the closed loop, the platform long run, training logs)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np


def concat_chunks(chunks: Sequence[Mapping[str, Any]]) -> dict[str, np.ndarray]:
    """Join the per-chunk metrics of a chunked run along time (the last axis).

    >>> concat_chunks([{"x": np.zeros((2, 3))}, {"x": np.ones((2, 1))}])["x"].shape
    (2, 4)
    """
    return {
        name: np.concatenate([np.asarray(chunk[name]) for chunk in chunks], axis=-1)
        for name in chunks[0]
    }


def tidy_frame(
    series: Mapping[str, Any],
    index: str = "world",
    step: str = "step",
    first_step: int = 1,
    names: Sequence[str] | None = None,
    **constants: Any,
):
    """One row per (batch entry, step) from ``series`` (name -> array [B, T]).

    Columns, in order: each of ``constants`` (one value for every row), ``index`` (0..B-1),
    ``step`` (``first_step``..``first_step + T - 1``), then each series in ``names`` order (default:
    the mapping's order).

    >>> tidy_frame({"x": np.array([[1.0, 2.0], [3.0, 4.0]])}, policy="p").to_dict("list")
    {'policy': ['p', 'p', 'p', 'p'], 'world': [0, 0, 1, 1], 'step': [1, 2, 1, 2], 'x': [1.0, 2.0, 3.0, 4.0]}
    """
    import pandas as pd

    names = list(series) if names is None else list(names)
    n_rows, n_steps = np.shape(series[names[0]])[:2]
    rows, steps = np.meshgrid(
        np.arange(n_rows), np.arange(first_step, first_step + n_steps), indexing="ij"
    )
    frame = pd.DataFrame({**constants, index: rows.ravel(), step: steps.ravel()})
    for name in names:
        frame[name] = np.asarray(series[name]).ravel()
    return frame
