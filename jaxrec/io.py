"""Atomic result writing: a file either appears complete or not at all.

Files get the permissions the user's umask gives a new file (e.g. 0644 under umask 022), as
``open()`` would: the temporary file :func:`tempfile.mkstemp` creates is private (0600) until it is
renamed into place.

:func:`save_figure` writes figures the same way; :func:`line_style` and :func:`legend_outside` are
the figure conventions every plot shares (the sweep report's and the experiments' alike).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if tmp_path.exists():
            os.chmod(tmp_path, 0o666 & ~_umask())
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _umask() -> int:
    """The process umask (reading it means setting it, so it is set straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _to_builtin(obj: Any) -> Any:
    """JSON fallback for numpy/jax scalars and arrays."""
    if hasattr(obj, "tolist"):
        return obj.tolist()
    raise TypeError(f"object of type {type(obj).__name__} is not JSON serializable")


def write_json(path: str | os.PathLike, payload: Any) -> Path:
    """Write ``payload`` as indented JSON, atomically. Numpy and jax values become lists/floats."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(payload, indent=2, default=_to_builtin) + "\n")
    return Path(path)


def write_parquet(path: str | os.PathLike, frame: Any) -> Path:
    """Write a pandas DataFrame to Parquet, atomically."""
    with atomic_path(path) as tmp:
        frame.to_parquet(tmp, index=False)
    return Path(path)


def save_figure(path: str | os.PathLike, fig: Any, dpi: int = 120) -> Path:
    """Save a matplotlib figure as PNG, atomically, and close it."""
    import matplotlib.pyplot as plt

    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format="png")
    plt.close(fig)
    return Path(path)


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
