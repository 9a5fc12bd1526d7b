"""``jaxrec report``: summarise a results folder (mean and 95% CI) and plot metrics over time.

Reads the per-step tables jaxrec writes: ``sweep`` (grid points x seeds), ``simulate`` and ``demo``
(policies x worlds), ``closed-loop`` (runs x worlds), ``train cpo|ppo-lag`` (the training log:
seeds x iterations) and ``train platform`` (methods x seeds x test steps). Folders holding only a
summary (``train compare|sweep|evaluate``, ``fm``, ``pareto``) are refused with the file to read
instead. An unfinished run is reported as such, with the step it reached.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from jaxrec.commands._options import comma_list, positive_int

# command -> (table, the column of the compared groups, the replicate column, the time column,
#             default metrics)
TABLES = {
    "sweep": ("metrics.parquet", None, "seed", "step", None),
    "simulate": (
        "metrics.parquet",
        None,
        "world",
        "step",
        ("exposure_gini", "head_share", "reward", "active_producers"),
    ),
    "demo": (
        "metrics.parquet",
        "policy",
        "world",
        "step",
        ("exposure_gini", "head_share", "reward", "active_producers"),
    ),
    "closed-loop": (
        "metrics.parquet",
        "run",
        "world",
        "step",
        ("clicks_per_user", "top1_share", "producer_gini", "active_producers"),
    ),
    "train cpo": (
        "train_log.parquet",
        None,
        "seed",
        "iteration",
        ("episode_return", "episode_cost"),
    ),
    "train ppo-lag": (
        "train_log.parquet",
        None,
        "seed",
        "iteration",
        ("episode_return", "episode_cost"),
    ),
    "train platform": ("long_run.parquet", "method", "seed", "step", None),
}
SUMMARY_ONLY = {
    "train compare": "comparison.csv",
    "train sweep": "tradeoff.csv",
    "train evaluate": "results.json",
    "fm": "results.json",
    "pareto": "frontier.csv",
}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "report",
        help="summary table per grid point / policy (mean, 95%% CI) and plots over time",
        description=(
            "Read the per-step results of `jaxrec sweep`, `simulate`, `demo`, `closed-loop`, "
            "`train cpo|ppo-lag` or `train platform` in DIR, print one row per grid point "
            "(policy, run, method) with the mean and 95%% Student-t confidence interval over seeds "
            "(worlds) of each metric at the end of the run, and write DIR/report/summary.csv and "
            "DIR/report/<metric>.png. An unfinished run is reported as such."
        ),
    )
    parser.add_argument("dir", help="a results folder of a jaxrec command")
    parser.add_argument(
        "--metrics",
        type=comma_list(str),
        default=None,
        help="comma-separated metric columns (default: the main metrics of the folder's command)",
    )
    parser.add_argument(
        "--window",
        type=positive_int,
        default=1,
        help="logged intervals at the end to average (default 1)",
    )
    parser.set_defaults(func=run, validate=validate)


def folder_kind(path: Path) -> str:
    """The command that wrote results folder ``path``, or a ConfigError saying why it is none."""
    from jaxrec.commands._outputs import previous_command
    from jaxrec.errors import ConfigError

    if not path.is_dir():
        raise ConfigError("dir", f"{path} is not a folder")
    kind = previous_command(path) or _legacy_kind(path)
    if kind is None:
        tables = ", ".join(sorted({spec[0] for spec in TABLES.values()}))
        raise ConfigError("dir", f"{path} holds no jaxrec results (none of {tables})")
    if kind in SUMMARY_ONLY:
        raise ConfigError(
            "dir",
            f"{path} holds `jaxrec {kind}` results, which are already a summary: read "
            f"{path / SUMMARY_ONLY[kind]}",
        )
    if kind not in TABLES:
        raise ConfigError("dir", f"report does not read `jaxrec {kind}` results")
    if not (path / TABLES[kind][0]).exists():
        raise ConfigError("dir", f"{path} holds no {TABLES[kind][0]} yet (the run wrote nothing)")
    return kind


def _legacy_kind(path: Path) -> str | None:
    """The command of a folder written before the run marker, from the tables it holds."""
    import pyarrow.parquet as pq

    if (path / "long_run.parquet").is_file():
        return "train platform"
    if (path / "train_log.parquet").is_file():
        return "train cpo"
    table = path / "metrics.parquet"
    parts = sorted(table.glob("*.parquet")) if table.is_dir() else [table]
    if parts and parts[0].is_file():
        try:
            names = set(pq.read_schema(parts[0]).names)
        except (OSError, ValueError):
            return None
        if {"point", "seed"} <= names:
            return "sweep"
        return "closed-loop" if "run" in names else "demo" if "policy" in names else "simulate"
    return None


def validate(args: argparse.Namespace) -> str:
    """Check the folder (its kind) and the options; write nothing. Returns the kind."""
    return folder_kind(Path(args.dir))


def load(path: Path, kind: str):
    """The folder's table in the sweep's schema (``point``, ``seed``, ``step``, label columns)."""
    import pandas as pd

    from jaxrec.sweep.runner import load_metrics

    if kind == "sweep":
        return load_metrics(path)
    table, group, replicate, time, _ = TABLES[kind]
    frame = pd.read_parquet(path / table)
    frame = frame.rename(columns={replicate: "seed", time: "step"})
    if group is None:
        frame["point"] = 0
    else:
        order = {name: i for i, name in enumerate(dict.fromkeys(frame[group]))}
        frame["point"] = frame[group].map(order)
        frame[f"policy.{group}"] = frame[group]  # the label of each line
    return frame.sort_values(["point", "seed", "step"], kind="stable").reset_index(drop=True)


def progress_note(path: Path, kind: str, frame) -> str | None:
    """A line saying the run in ``path`` did not finish and how far it got, or None if it did."""
    import json

    from jaxrec.commands._outputs import read_marker

    reached = int(frame["step"].max())
    if kind == "sweep":
        try:
            meta = json.loads((path / "sweep.json").read_text())
        except (OSError, ValueError):
            meta = {}
        if meta.get("complete", True):
            return None
        total = meta.get("spec", {}).get("run", {}).get("steps", "?")
        return (
            f"INCOMPLETE sweep: it reached step {reached} of {total}; the numbers below are at "
            f"step {reached}, not final. Continue it with `jaxrec sweep SWEEP.toml --out {path} "
            "--resume`"
        )
    marker = read_marker(path)
    if marker is None or marker.get("complete", True):
        return None
    total = (marker.get("run") or {}).get("steps", "?")
    return (
        f"INCOMPLETE `jaxrec {kind}` run: it reached step {reached} of {total}; the numbers "
        f"below are at step {reached}, not final"
    )


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    from jaxrec.errors import ConfigError
    from jaxrec.sweep.report import DEFAULT_METRICS, write_report

    path = Path(args.dir)
    kind = validate(args)
    frame = load(path, kind)
    metrics = args.metrics or TABLES[kind][4] or DEFAULT_METRICS
    if kind == "train platform" and not args.metrics:
        metrics = [c for c in frame.columns if c not in ("method", "seed", "step", "point")]
        metrics = [c for c in metrics if not c.startswith("policy.")]
    numeric = [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c])]
    unknown = [m for m in metrics if m not in numeric or m in ("point", "seed", "step")]
    if unknown:
        shown = [c for c in numeric if c not in ("point", "seed", "step", "run", "world")]
        raise ConfigError(
            "--metrics", f"unknown metric(s) {unknown}; this `jaxrec {kind}` table has {shown}"
        )
    note = progress_note(path, kind, frame)
    if note:
        print(note)
    summary, figures = write_report(path, metrics, args.window, frame=frame)
    out = path / "report"
    with pd.option_context("display.max_columns", None, "display.width", 160):
        print(summary.to_string(index=False, float_format=lambda x: f"{x:.4g}"))
    print(f"wrote {len(figures)} plots and the summary to {out}")
    return 0
