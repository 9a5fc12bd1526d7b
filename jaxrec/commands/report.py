"""``jaxrec report``: summarise a sweep folder (mean and 95% CI over seeds) and plot metrics."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "report",
        help="summary table per grid point (mean, 95%% CI over seeds) and plots over time",
        description=(
            "Read DIR/metrics.parquet written by `jaxrec sweep`, print one row per grid point with "
            "the mean and 95%% Student-t confidence interval over seeds of each metric at the end "
            "of the run, and write DIR/report/summary.csv and DIR/report/<metric>.png."
        ),
    )
    parser.add_argument("dir", help="a results folder of `jaxrec sweep`")
    parser.add_argument(
        "--metrics",
        default="exposure_gini,head_share,reward,active_producers",
        help="comma-separated metric columns (default: %(default)s)",
    )
    parser.add_argument(
        "--window", type=int, default=1, help="logged intervals at the end to average (default 1)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from jaxrec.errors import ConfigError
    from jaxrec.sweep.report import write_report

    if args.window < 1:
        raise ConfigError("window", f"must be >= 1, got {args.window}")
    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()]
    summary, figures = write_report(args.dir, metrics, args.window)
    import pandas as pd

    with pd.option_context("display.max_columns", None, "display.width", 160):
        print(summary.to_string(index=False, float_format=lambda x: f"{x:.4g}"))
    print(f"wrote {len(figures)} plots and the summary to {figures[0].parent}")
    return 0
