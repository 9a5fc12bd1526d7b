"""The ``jaxrec sweep`` command's options and handler: run a grid of configurations x seeds as one
compiled program, resumably.

They live in the sweep package so that ``python -m jaxrec.sweep`` (multi-process runs, where
``jax.distributed.initialize`` must come before anything touches a JAX backend) runs the same
command without importing the command layer; :mod:`jaxrec.commands.sweep` registers them.
"""

from __future__ import annotations

import argparse

HELP = "run a sweep file (grid x seeds as one compiled program, chunked, resumable)"
DESCRIPTION = (
    "Run every grid point x seed of a TOML sweep file as one compiled, sharded program over "
    "compiled chunks of the horizon. Writes DIR/metrics.parquet (a folder of tidy Parquet "
    "parts: one row per run and logging interval), DIR/sweep.toml, DIR/sweep.json and orbax "
    "checkpoints under DIR/checkpoints. Start from `jaxrec sweep --print-example`."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The sweep command's options; :func:`run` is its handler."""
    parser.add_argument("sweep_file", nargs="?", help="the sweep file (TOML)")
    parser.add_argument("--out", help="results folder")
    parser.add_argument(
        "--resume", action="store_true", help="continue from the newest checkpoint in --out"
    )
    parser.add_argument(
        "--print-example", action="store_true", help="print a small commented sweep file and exit"
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.add_argument(
        "--distributed",
        action="store_true",
        help=(
            "join a multi-process JAX cluster (jax.distributed.initialize) before running; "
            "JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES and JAX_PROCESS_ID are read when set, "
            "otherwise JAX detects the cluster (SLURM, Open MPI, cloud TPU)"
        ),
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from jaxrec.errors import ConfigError

    if args.print_example:
        from jaxrec.sweep.spec import EXAMPLE

        print(EXAMPLE, end="")
        return 0
    if not args.sweep_file:
        raise ConfigError("sweep_file", "give a sweep file (start from --print-example)")
    if not args.out:
        raise ConfigError("out", "give a results folder with --out DIR")
    if args.distributed:
        from jaxrec.sweep.distributed import initialize_from_environment

        initialize_from_environment()

    from pathlib import Path

    from jaxrec.sweep.runner import run_sweep
    from jaxrec.sweep.spec import load_sweep

    spec = load_sweep(args.sweep_file)
    out = run_sweep(
        spec,
        args.out,
        resume=args.resume,
        sweep_text=Path(args.sweep_file).read_text(),
        progress=not args.no_progress,
    )
    print(f"wrote {out}")
    return 0
