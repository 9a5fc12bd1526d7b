"""``jaxrec train platform``: the long-run fairness experiment on the dynamic platform.

CPO and PPO-Lagrangian held to a head-items-per-slate target and an unconstrained agent are trained
on continuing worlds, then served beside FairCo and the frozen-label and live-label re-rankers
(:mod:`jaxrec.experiments.platform_long_run`).
"""

from __future__ import annotations

import argparse

from jaxrec.commands._options import (
    add_allow_large,
    add_config_option,
    add_data_options,
    add_out,
    add_popularity_beta,
    add_seeds,
    comma_list,
    data_dir,
    experiment_config_path,
    nonnegative_float,
    nonnegative_int,
    positive_int,
)

CONFIG = "long_run.toml"


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
            "Writes DIR/long_run.parquet, training.parquet, summary.json, long_run.png, "
            "training.png and tradeoff.png."
        ),
    )
    add_data_options(platform)
    add_config_option(platform, CONFIG)
    shipped = "(replaces {}; shipped {})".format
    platform.add_argument(
        "--iterations", type=int, default=100, help="policy updates (default 100)"
    )
    add_seeds(platform, default=None, help="seeds run at once " + shipped("run.seeds", 3))
    add_out(platform, required=False, help="output folder (required unless printing the config)")
    add_allow_large(platform)
    platform.add_argument(
        "--platform-users",
        type=positive_int,
        help="users per world " + shipped("world.n_users", 256),
    )
    platform.add_argument(
        "--platform-items",
        type=positive_int,
        help="item slots, synthetic world only " + shipped("world.n_items", 500),
    )
    platform.add_argument(
        "--top-items",
        type=positive_int,
        help="MovieLens data only: keep the N most-rated items of the data (default: all)",
    )
    platform.add_argument(
        "--platform-steps", type=positive_int, help="test steps " + shipped("run.steps", 400)
    )
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
        "--test-world",
        choices=("fresh", "continue"),
        default="fresh",
        help="what the test serves: a fresh world per seed, or the worlds each agent trained on, "
        "from where training left them (default fresh)",
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
        "--multiplier-lr",
        type=nonnegative_float,
        default=0.003,
        help="PPO-Lagrangian's multiplier gain per episode, the PID Lagrangian's integral gain "
        "(default 0.003; with --multiplier-kp 0, 0.01 is the plain ascent of the FCPO modes' 0.05 "
        "per 10-step episode, at the same gain per step)",
    )
    platform.add_argument(
        "--multiplier-kp",
        type=nonnegative_float,
        default=0.05,
        help="PPO-Lagrangian's proportional gain on the per-episode violation, the PID Lagrangian "
        "(default 0.05; 0: the plain ascent)",
    )
    platform.add_argument(
        "--multiplier-kd",
        type=nonnegative_float,
        default=0.0,
        help="PPO-Lagrangian's derivative gain on the rise of the episode cost between "
        "iterations (default 0)",
    )
    platform.add_argument(
        "--fairco-gain", type=float, default=1.0, help="FairCo's lambda (default 1)"
    )
    platform.add_argument(
        "--relabel-every",
        type=positive_int,
        help="steps between head relabels " + shipped("env.relabel_every", 10),
    )
    add_popularity_beta(platform, aliases=("--matthew",))
    platform.add_argument(
        "--world-seed",
        "--data-seed",
        dest="world_seed",
        type=nonnegative_int,
        help="world seed: the synthetic world, or the MF fit and producers of a MovieLens world "
        + shipped("world.seed", 0),
    )
    platform.add_argument("--no-progress", action="store_true", help="no progress bars")
    platform.set_defaults(func=run, validate=validate)


def validate(args: argparse.Namespace):
    """Check the options, the config file, ``--out`` and the memory estimate (reading a MovieLens
    catalogue's size from its ratings); write nothing. Returns the experiment's world, env and run
    settings (a :class:`~jaxrec.experiments.config.SimulationConfig`; None with
    ``--print-config``)."""
    from jaxrec.commands._outputs import check_out
    from jaxrec.commands._sizes import check_fits, platform_bytes, training_bytes
    from jaxrec.experiments.config import load_experiment_config

    if args.print_config:
        return None
    check_out(args.out, "train platform", overwrite=args.overwrite)
    if args.data != "synthetic":
        data_dir(args)
    settings = load_experiment_config(
        experiment_config_path(args, CONFIG),
        "train platform",
        reads={
            "world": ["seed", "n_users", "n_items", "n_producers", "dim"],
            "env": ["slate_size", "history_len", "relabel_every", "popularity_beta"],
            "run": ["steps", "seeds"],
        },
        run_keys={"seeds": 3},
        overrides=[
            ("--world-seed", "world.seed", args.world_seed),
            ("--platform-users", "world.n_users", args.platform_users),
            ("--platform-items", "world.n_items", args.platform_items),
            ("--relabel-every", "env.relabel_every", args.relabel_every),
            ("--popularity-beta", "env.popularity_beta", args.popularity_beta),
            ("--platform-steps", "run.steps", args.platform_steps),
            ("--seeds", "run.seeds", args.seeds),
        ],
    )
    targets = args.targets or [args.head_per_slate]
    seeds = settings.run["seeds"]
    # CPO and PPO-Lagrangian per target and the unconstrained agent, per seed, each trained
    # on --worlds worlds; at test one program serves, per seed, the unconstrained agent, random,
    # most-popular and five methods per target (the online agents after it, fewer at once)
    batch = seeds * (2 * len(targets) + 1)
    users, items = settings.world.n_users, args.top_items or settings.world.n_items
    if args.data != "synthetic" and args.top_items is None:
        from jaxrec.data.loaders import load_ratings

        # a world fitted from ratings holds the data's catalogue, not the config's item slots
        items = load_ratings(args.data, data_dir(args)).n_items
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
            dim=settings.world.dim,
            slate_size=settings.probe_env().slate_size,
            n_worlds=(3 + 5 * len(targets)) * seeds,
        ),
    )
    what = f"{batch} agents on {args.worlds} worlds of {users} users x {items} items"
    check_fits(estimate, what, allow_large=args.allow_large)
    return settings


def long_run_experiment(args: argparse.Namespace, settings):
    """The :class:`~jaxrec.experiments.platform_long_run.LongRunExperiment` of the options and
    the config's world, env and run ``settings`` (keys the config leaves out take the schema's
    defaults, e.g. the platform's ``popularity_beta``)."""
    from jaxrec.experiments.platform_long_run import LongRunExperiment

    targets = list(args.targets) if args.targets else [args.head_per_slate]
    if args.head_per_slate not in targets:
        targets.append(args.head_per_slate)
    world, env, params = settings.world, settings.probe_env(), settings.probe_params()
    return LongRunExperiment(
        data=args.data,
        data_dir=data_dir(args) if args.data != "synthetic" else None,
        top_items=args.top_items,
        test_world=args.test_world,
        n_users=world.n_users,
        n_items=world.n_items,
        n_producers=world.n_producers,
        dim=world.dim,
        slate_size=env.slate_size,
        history_len=env.history_len,
        n_worlds=args.worlds,
        iterations=args.iterations,
        reset_every=args.reset_every,
        seeds=settings.run["seeds"],
        targets=tuple(targets),
        target=args.head_per_slate,
        test_steps=settings.run["steps"],
        train_steps=args.platform_train_steps,
        relabel_every=int(params.relabel_every),
        popularity_beta=float(params.popularity_beta),
        world_seed=settings.world_seed,
        delta=args.delta,
        multiplier_lr=args.multiplier_lr,
        multiplier_kp=args.multiplier_kp,
        multiplier_kd=args.multiplier_kd,
        fairco_gain=args.fairco_gain,
    )


def run(args: argparse.Namespace) -> int:
    from jaxrec.commands._outputs import claim_out, finish_out
    from jaxrec.experiments.config import EXPERIMENT_CONFIGS
    from jaxrec.experiments.platform_long_run import (
        format_summary,
        run_long_run,
        summarise,
        write_results,
    )

    if args.print_config:
        print((EXPERIMENT_CONFIGS / CONFIG).read_text(), end="")
        return 0
    experiment = long_run_experiment(args, validate(args))
    print(f"long-run platform experiment: {experiment}", flush=True)
    frame, training = run_long_run(experiment, progress=not args.no_progress)
    summary = summarise(frame, training, experiment)
    out = claim_out(args.out, "train platform", overwrite=args.overwrite)
    written = write_results(out, frame, training, summary, experiment)
    finish_out(out)
    print(format_summary(summary))
    print(f"wrote {out}/" + ", ".join(written))
    return 0
