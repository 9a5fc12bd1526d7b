"""``jaxrec simulate``: run one baseline policy on a world and write a tidy metrics table + plots."""

from __future__ import annotations

import argparse
from pathlib import Path

from jaxrec.commands._options import (
    MOVIELENS,
    add_allow_large,
    add_popularity_beta,
    nonnegative_int,
    positive_int,
)
from jaxrec.commands._outputs import add_out_option

POLICY_CHOICES = (
    "random",
    "most_popular",
    "greedy",
    "quota_rerank",
    "frozen_rerank",
    "fairco",
    "fairco_item",
    "static_rerank",  # deprecated name of quota_rerank
)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "simulate",
        help="simulate a policy on a synthetic or MovieLens world",
        description="Simulate a baseline policy over many worlds; streams DIR/metrics.parquet "
        "(a folder of Parquet parts, one per chunk: one row per world and step) and writes "
        "summary.json and plots at the end. Ctrl-C stops after the current chunk and keeps the "
        "finished steps.",
    )
    parser.add_argument("config", nargs="?", help="TOML config ([world], [env], [policy], [run])")
    parser.add_argument("--data", choices=("synthetic", *MOVIELENS), default="synthetic")
    parser.add_argument("--data-dir", help="directory holding the MovieLens files")
    parser.add_argument("--policy", choices=POLICY_CHOICES, help="overrides [policy] name")
    parser.add_argument("--steps", type=positive_int, help="horizon (overrides [run] steps)")
    parser.add_argument(
        "--worlds", type=positive_int, help="parallel worlds (overrides [run] worlds)"
    )
    parser.add_argument(
        "--seed",
        type=nonnegative_int,
        help="seed of the world and of its rollouts (overrides [world] seed and [run] seed)",
    )
    add_popularity_beta(parser)
    add_out_option(parser)
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    add_allow_large(parser)
    parser.set_defaults(func=run, validate=plan)


def build_world(config, data: str, data_dir: str | None, seed: int):
    """The world a simulation runs on: synthetic from ``config.world`` or fitted from MovieLens."""
    from jaxrec.data import synthetic_world
    from jaxrec.data.loaders import load_ratings
    from jaxrec.experiments.worlds import world_from_ratings

    if data == "synthetic":
        return synthetic_world(seed, config.world)
    ratings = load_ratings(data, data_dir)
    n_producers = min(config.world.n_producers, ratings.n_items)
    return world_from_ratings(ratings, dim=config.world.dim, n_producers=n_producers, seed=seed)


def plan(args: argparse.Namespace) -> tuple:
    """Check every option, the config, ``--out`` and the memory estimate; load and write nothing.

    Returns ``(config, run_config, policy, policy_kwargs)``.
    """
    from jaxrec.agents.baselines import make_policy
    from jaxrec.commands._outputs import check_out
    from jaxrec.commands._sizes import check_fits, platform_bytes
    from jaxrec.errors import ConfigError
    from jaxrec.experiments.config import load_experiment_config

    check_out(args.out, "simulate", overwrite=args.overwrite)
    config = load_experiment_config(
        args.config,
        "simulate",
        reads={table: None for table in ("world", "env", "policy", "run")},
        overrides=[
            ("--steps", "run.steps", args.steps),
            ("--worlds", "run.worlds", args.worlds),
            ("--seed", "world.seed", args.seed),  # one option seeds the world and its rollouts
            ("--seed", "run.seed", args.seed),
            ("--popularity-beta", "env.popularity_beta", args.popularity_beta),
        ],
    )
    run_config = config.run
    if args.data != "synthetic" and not args.data_dir:
        raise ConfigError(
            "--data-dir", f"--data {args.data} needs the directory of the MovieLens files"
        )
    policy = args.policy or config.policy
    policy_kwargs = config.policy_kwargs if policy == config.policy else {}
    world = config.world
    make_policy(policy, config.probe_env(), **policy_kwargs)
    check_fits(
        platform_bytes(
            n_users=world.n_users,
            n_items=world.n_items,
            dim=world.dim,
            slate_size=config.env_static.get("slate_size", 10),
            n_worlds=run_config["worlds"],
            chunk=min(run_config["chunk"], run_config["steps"]),
            log_steps=config.env_static.get("log_steps", 0),
            pool_users=world.n_pool_users,
        ),
        f"{run_config['worlds']} world(s) of {world.n_users} users x {world.n_items} items",
        allow_large=args.allow_large,
    )
    return config, run_config, policy, policy_kwargs


def run(args: argparse.Namespace) -> int:
    from jaxrec.commands._interrupt import stop_requests
    from jaxrec.commands._outputs import claim_out, finish_out, part_writer
    from jaxrec.envs.platform import PlatformEnv
    from jaxrec.errors import Interrupted
    from jaxrec.experiments.plots import plot_metric_over_time
    from jaxrec.experiments.simulation import format_summary, run_policies, summarise
    from jaxrec.io import write_json

    config, run_config, policy, policy_kwargs = plan(args)
    world = build_world(config, args.data, args.data_dir, config.world_seed)
    env_static = {"n_users": min(config.world.n_users, world.n_pool_users), **config.env_static}
    env = PlatformEnv(**env_static)
    params = env.default_params(world, **config.env_params)
    out = claim_out(args.out, "simulate", overwrite=args.overwrite, policy=policy, run=run_config)
    with stop_requests() as should_stop:
        try:
            frame, _ = run_policies(
                env,
                params,
                [policy],
                n_worlds=run_config["worlds"],
                n_steps=run_config["steps"],
                seed=run_config["seed"],
                chunk=run_config["chunk"],
                progress=not args.no_progress,
                policy_kwargs={policy: policy_kwargs},
                on_chunk=part_writer(out / "metrics.parquet", drop=("policy",)),
                should_stop=should_stop,
            )
        except Interrupted as err:
            raise Interrupted(
                f"{err}; the finished steps are in {out}/metrics.parquet (`jaxrec report {out}` "
                "reads them). simulate cannot resume: run it again with --overwrite"
            ) from None
    summary = summarise(frame)
    write_json(
        out / "summary.json",
        {
            "policy": policy,
            "data": args.data,
            "env": repr(env),
            "run": run_config,
            "summary": summary.to_dict(orient="records")[0],
        },
    )
    for metric in ("exposure_gini", "head_share", "reward", "active_producers"):
        plot_metric_over_time(frame, metric, Path(out) / f"{metric}.png", group="policy")
    finish_out(out)
    print(format_summary(summary))
    print(f"wrote {out}/metrics.parquet, summary.json and plots")
    return 0
