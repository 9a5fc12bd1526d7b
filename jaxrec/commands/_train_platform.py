"""``jaxrec train platform``: the long-run fairness experiment on the dynamic platform.

CPO and PPO-Lagrangian held to a head-items-per-slate target and an unconstrained agent are trained
on continuing worlds, then served beside FairCo and the frozen-label and live-label re-rankers
(:mod:`jaxrec.experiments.platform_long_run`).
"""

from __future__ import annotations

import argparse

from jaxrec.commands._options import (
    add_allow_large,
    add_data_options,
    add_out,
    add_popularity_beta,
    add_seeds,
    comma_list,
    data_dir,
    nonnegative_float,
    nonnegative_int,
)


def register(modes: argparse._SubParsersAction) -> None:
    """Add the ``platform`` mode to ``jaxrec train``'s modes."""
    platform = modes.add_parser(
        "platform",
        help="long-run fairness: CPO, PPO-Lagrangian, FairCo and re-rankers on the platform",
        description=(
            "Train CPO and PPO-Lagrangian (head items per slate held at each --targets value) and "
            "an unconstrained agent on --worlds continuing worlds of the dynamic platform "
            "(synthetic, or fitted from MovieLens ratings), then serve them, FairCo, the "
            "frozen-label and the live-label quota re-rankers for --platform-steps test steps. "
            "Writes DIR/long_run.parquet, summary.json, long_run.png and tradeoff.png."
        ),
    )
    add_data_options(platform)
    platform.add_argument(
        "--iterations", type=int, default=100, help="policy updates (default 100)"
    )
    add_seeds(platform)
    add_out(platform)
    add_allow_large(platform)
    platform.add_argument("--platform-users", type=int, default=256, help="users per world")
    platform.add_argument(
        "--platform-items", type=int, default=500, help="item slots (synthetic world only)"
    )
    platform.add_argument("--platform-steps", type=int, default=400, help="test steps")
    platform.add_argument(
        "--platform-train-steps", type=int, default=50, help="steps per training iteration"
    )
    platform.add_argument(
        "--worlds", type=int, default=16, help="continuing worlds trained on at once (default 16)"
    )
    platform.add_argument(
        "--reset-every",
        type=nonnegative_int,
        default=10,
        help="fresh training worlds every this many iterations (0 = never; default 10)",
    )
    platform.add_argument(
        "--head-per-slate",
        type=nonnegative_float,
        default=1.0,
        help="the target head items per slate the summary and time plots report (default 1)",
    )
    platform.add_argument(
        "--targets",
        type=comma_list(nonnegative_float),
        help="comma-separated targets for the trade-off plot (default: --head-per-slate)",
    )
    platform.add_argument(
        "--delta", type=float, default=0.01, help="CPO trust region (default 0.01)"
    )
    platform.add_argument(
        "--fairco-gain", type=float, default=1.0, help="FairCo's lambda (default 1)"
    )
    platform.add_argument("--relabel-every", type=int, default=10, help="steps between relabels")
    add_popularity_beta(platform, default=1.0, aliases=("--matthew",))
    platform.add_argument(
        "--world-seed",
        "--data-seed",
        dest="world_seed",
        type=int,
        default=0,
        help="world seed (synthetic world; MF fit and producers of a MovieLens world)",
    )
    platform.add_argument("--no-progress", action="store_true", help="no progress bars")
    platform.set_defaults(func=run, validate=validate)


def validate(args: argparse.Namespace) -> None:
    """Check the options, ``--out`` and the memory estimate; load and write nothing."""
    from jaxrec.commands._outputs import check_out
    from jaxrec.commands._sizes import check_fits, platform_bytes, training_bytes

    check_out(args.out, "train platform", overwrite=args.overwrite)
    if args.data != "synthetic":
        data_dir(args)
    targets = args.targets or [args.head_per_slate]
    # CPO and PPO-Lagrangian per target and the unconstrained agent, per seed, each trained
    # on --worlds worlds; six methods per target and seed at test
    batch = args.seeds * (2 * len(targets) + 1)
    users, items = args.platform_users, args.platform_items
    estimate = max(
        training_bytes(
            n_users=users * args.worlds,
            n_items=items,
            steps=args.platform_train_steps,
            batch=batch,
        ),
        platform_bytes(
            n_users=users,
            n_items=items,
            dim=16,
            slate_size=5,
            n_worlds=6 * len(targets) * args.seeds,
        ),
    )
    what = f"{batch} agents on {args.worlds} worlds of {users} users x {items} items"
    check_fits(estimate, what, allow_large=args.allow_large)


def run(args: argparse.Namespace) -> int:
    from jaxrec.commands._outputs import claim_out, finish_out
    from jaxrec.experiments.platform_long_run import (
        LongRunExperiment,
        format_summary,
        run_long_run,
        summarise,
        write_results,
    )

    validate(args)
    targets = list(args.targets) if args.targets else [args.head_per_slate]
    if args.head_per_slate not in targets:
        targets.append(args.head_per_slate)
    experiment = LongRunExperiment(
        data=args.data,
        data_dir=data_dir(args) if args.data != "synthetic" else None,
        n_users=args.platform_users,
        n_items=args.platform_items,
        n_worlds=args.worlds,
        iterations=args.iterations,
        reset_every=args.reset_every,
        seeds=args.seeds,
        targets=tuple(targets),
        target=args.head_per_slate,
        test_steps=args.platform_steps,
        train_steps=args.platform_train_steps,
        relabel_every=args.relabel_every,
        popularity_beta=args.popularity_beta,
        world_seed=args.world_seed,
        delta=args.delta,
        fairco_gain=args.fairco_gain,
    )
    print(f"long-run platform experiment: {experiment}", flush=True)
    frame, training = run_long_run(experiment, progress=not args.no_progress)
    summary = summarise(frame, training, experiment)
    out = claim_out(args.out, "train platform", overwrite=args.overwrite)
    written = write_results(out, frame, summary, experiment)
    finish_out(out)
    print(format_summary(summary))
    print(f"wrote {out}/" + ", ".join(written))
    return 0
