"""``jaxrec sweep``: run a grid of configurations x seeds as one compiled program, resumably.

``python -m jaxrec.sweep`` (multi-process runs, where ``jax.distributed.initialize`` must come
before anything touches a JAX backend) runs the same options and handler; this module imports no
JAX and no other command at load time.
"""

from __future__ import annotations

import argparse

from jaxrec.commands._options import add_allow_large
from jaxrec.commands._outputs import add_out_option

HELP = "run a sweep file (grid x seeds as one compiled program, chunked, resumable)"
DESCRIPTION = (
    "Run every grid point x seed of a TOML sweep file as one compiled, sharded program over "
    "compiled chunks of the horizon. Writes DIR/metrics.parquet (a folder of tidy Parquet "
    "parts: one row per run and logging interval), DIR/sweep.toml, DIR/sweep.json and orbax "
    "checkpoints under DIR/checkpoints. Start from `jaxrec sweep --print-example`."
)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("sweep", help=HELP, description=DESCRIPTION)
    add_arguments(parser)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The sweep command's options (also ``python -m jaxrec.sweep``'s); :func:`run` is its
    handler and :func:`validate` its check."""
    parser.add_argument("sweep_file", nargs="?", help="the sweep file (TOML)")
    add_out_option(parser, required=False, help="results folder")
    parser.add_argument(
        "--resume", action="store_true", help="continue from the newest checkpoint in --out"
    )
    parser.add_argument(
        "--print-example", action="store_true", help="print a small commented sweep file and exit"
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    add_allow_large(parser)
    parser.add_argument(
        "--distributed",
        action="store_true",
        help=(
            "join a multi-process JAX cluster (jax.distributed.initialize) before running; "
            "JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES and JAX_PROCESS_ID are read when set, "
            "otherwise JAX detects the cluster (SLURM, Open MPI, cloud TPU)"
        ),
    )
    parser.set_defaults(func=run, validate=validate)


def validate(args: argparse.Namespace, check_folder: bool = True):
    """Check the sweep file, ``--out`` (unless ``check_folder`` is False: the processes of a
    multi-process run other than the first, which owns the folder) and the memory estimate; write
    nothing. Returns the spec (None with --print-example)."""
    from jaxrec.commands._outputs import check_out
    from jaxrec.commands._sizes import check_fits, platform_bytes
    from jaxrec.errors import ConfigError
    from jaxrec.sweep.spec import load_sweep

    if args.print_example:
        return None
    if not args.sweep_file:
        raise ConfigError("sweep_file", "give a sweep file (start from --print-example)")
    if check_folder:
        check_out(args.out, "sweep", overwrite=args.overwrite, resume=args.resume)
    elif not args.out:
        raise ConfigError("--out", "give an output folder with --out DIR")
    spec = load_sweep(args.sweep_file)
    check_fits(
        platform_bytes(
            n_users=spec.env.get("n_users", spec.world.n_users),
            n_items=spec.world.n_items,
            dim=spec.world.dim,
            slate_size=spec.env.get("slate_size", 10),
            n_worlds=spec.n_runs,
            chunk=spec.chunk,
            pool_users=spec.world.n_pool_users,
            history_len=spec.env.get("history_len", 10),
            seen_window=spec.env.get("seen_window", 0),
        ),
        f"{spec.n_runs} runs ({len(spec.points)} grid points x {len(spec.seeds)} seeds) of "
        f"{spec.world.n_users} users x {spec.world.n_items} items",
        allow_large=args.allow_large,
    )
    return spec


def run(args: argparse.Namespace) -> int:
    if args.print_example:
        from jaxrec.sweep.spec import EXAMPLE

        print(EXAMPLE, end="")
        return 0
    primary = True  # the process that checks, claims and marks the --out folder
    if args.distributed:  # before validate, whose memory estimate asks JAX for the devices
        import jax

        from jaxrec.sweep.distributed import initialize_from_environment

        initialize_from_environment()
        primary = jax.process_index() == 0
    spec = validate(args, check_folder=primary)

    from pathlib import Path

    from jaxrec.commands._interrupt import stop_requests
    from jaxrec.commands._outputs import claim_out, finish_out
    from jaxrec.errors import Interrupted
    from jaxrec.sweep.runner import run_sweep

    if primary:
        out = claim_out(args.out, "sweep", overwrite=args.overwrite, resume=args.resume)
    else:
        out = Path(args.out).expanduser()
    with stop_requests() as should_stop:
        try:
            run_sweep(
                spec,
                out,
                resume=args.resume,
                sweep_text=Path(args.sweep_file).read_text(),
                progress=not args.no_progress,
                should_stop=should_stop,
            )
        except Interrupted as err:
            raise Interrupted(
                f"{err}; the finished chunks are in {out}/metrics.parquet and a checkpoint of "
                f"that step is saved. Continue with: jaxrec sweep {args.sweep_file} --out {out} "
                "--resume"
            ) from None
    if primary:
        finish_out(out)
    print(f"wrote {out}")
    return 0
