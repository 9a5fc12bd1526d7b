"""``jaxrec simulate``: run one baseline policy on a world and write a tidy metrics table + plots."""

from __future__ import annotations

import argparse
from pathlib import Path

POLICY_CHOICES = ("random", "most_popular", "greedy", "static_rerank")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "simulate",
        help="simulate a policy on a synthetic or MovieLens world",
        description="Simulate a baseline policy over many worlds; writes DIR/metrics.parquet "
        "(one row per world and step) and plots.",
    )
    parser.add_argument("config", nargs="?", help="TOML config ([world], [env], [policy], [run])")
    parser.add_argument(
        "--data", choices=("synthetic", "ml-100k", "ml-1m", "ml-latest"), default="synthetic"
    )
    parser.add_argument("--data-dir", help="directory holding the MovieLens files")
    parser.add_argument("--policy", choices=POLICY_CHOICES, help="overrides [policy] name")
    parser.add_argument("--steps", type=int, help="horizon (overrides [run] steps)")
    parser.add_argument("--worlds", type=int, help="parallel worlds (overrides [run] worlds)")
    parser.add_argument("--seed", type=int, help="seed (overrides [run] seed)")
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.set_defaults(func=run)


def build_world(config, data: str, data_dir: str | None, seed: int):
    """The world a simulation runs on: synthetic from ``config.world`` or fitted from MovieLens."""
    from jaxrec.data import synthetic_world, world_from_ratings
    from jaxrec.data.loaders import load_ratings

    if data == "synthetic":
        return synthetic_world(seed, config.world)
    ratings = load_ratings(data, data_dir)
    n_producers = min(config.world.n_producers, ratings.n_items)
    return world_from_ratings(ratings, dim=config.world.dim, n_producers=n_producers, seed=seed)


def run(args: argparse.Namespace) -> int:
    from jaxrec.envs.config import load_simulation_config
    from jaxrec.envs.experiment import format_summary, run_policies, summarize
    from jaxrec.envs.platform import PlatformEnv
    from jaxrec.errors import ConfigError
    from jaxrec.io import write_json, write_parquet
    from jaxrec.plots import plot_metric_over_time

    config = load_simulation_config(args.config)
    overrides = {"steps": args.steps, "worlds": args.worlds, "seed": args.seed}
    run_config = dict(config.run)
    for key, value in overrides.items():
        if value is not None:
            if value < (0 if key == "seed" else 1):
                raise ConfigError(f"--{key}", f"must be a positive integer, got {value}")
            run_config[key] = value
    policy = args.policy or config.policy
    policy_kwargs = config.policy_kwargs if policy == config.policy else {}
    world = build_world(config, args.data, args.data_dir, run_config["seed"])
    env_static = {"n_users": min(config.world.n_users, world.n_pool_users), **config.env_static}
    env = PlatformEnv(**env_static)
    params = env.default_params(world, **config.env_params)
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
    )
    out = Path(args.out)
    write_parquet(out / "metrics.parquet", frame.drop(columns="policy"))
    summary = summarize(frame)
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
        plot_metric_over_time(frame, metric, out / f"{metric}.png", group="policy")
    print(format_summary(summary))
    print(f"wrote {out}/metrics.parquet, summary.json and plots")
    return 0
