"""``jaxrec closed-loop``: a learned scorer retrained on its own logs, with and without a marketplace
policy; writes the health table, the alerts, plots and a dashboard page."""

from __future__ import annotations

import argparse
import dataclasses

from jaxrec.commands._options import (
    add_allow_large,
    add_config_option,
    add_popularity_beta,
    experiment_config_path,
    fraction,
    nonnegative_int,
    positive_int,
)
from jaxrec.commands._outputs import add_out_option

CONFIG = "closed_loop.toml"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "closed-loop",
        help="learned scorer retrained on its own logs, marketplace re-ranking, health dashboard",
        description="Simulate worlds whose recommender is a learned scorer retrained every W steps "
        "on the interactions it caused, without and (with --policy) with a marketplace re-ranking "
        "policy. Writes DIR/metrics.parquet (one row per run, world and step), DIR/alerts.json, "
        "DIR/summary.json, PNG plots and DIR/dashboard.html embedding them.",
    )
    parser.add_argument("--policy", help="marketplace policy TOML (re-ranking and alert rules)")
    parser.add_argument("--scorer", choices=("mf", "fm", "aafm"), default="mf")
    add_config_option(parser, CONFIG)
    shipped = "(replaces {}; shipped {})".format
    parser.add_argument("--steps", type=positive_int, help=shipped("run.steps", 500))
    parser.add_argument("--worlds", type=positive_int, help=shipped("run.worlds", 4))
    parser.add_argument(
        "--users",
        type=positive_int,
        help="users, all served each step " + shipped("world.n_users", 512),
    )
    parser.add_argument(
        "--items", type=positive_int, help="catalogue slots " + shipped("world.n_items", 1000)
    )
    parser.add_argument("--producers", type=positive_int, help=shipped("world.n_producers", 64))
    parser.add_argument("--slate", type=positive_int, help=shipped("env.slate_size", 10))
    parser.add_argument("--retrain-every", type=int, default=50)
    parser.add_argument("--updates", type=int, default=50, help="optax steps per retrain")
    parser.add_argument("--epsilon", type=fraction, default=0.0, help="exploration probability")
    parser.add_argument(
        "--seed",
        type=nonnegative_int,
        help="seed of the world and of its rollouts (replaces world.seed and run.seed; shipped 0)",
    )
    add_popularity_beta(parser)
    parser.add_argument(
        "--chunk", type=positive_int, help="steps per compiled chunk " + shipped("run.chunk", 100)
    )
    add_out_option(
        parser, required=False, help="output folder (required unless printing the example)"
    )
    parser.add_argument(
        "--alerts-per-world",
        action="store_true",
        help="judge alert rules on each world's series and report the first world to breach "
        "(default: on the mean over worlds)",
    )
    add_allow_large(parser)
    parser.add_argument(
        "--print-example-policy",
        action="store_true",
        help="print the commented example policy file and exit",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    parser.set_defaults(func=run, validate=validate)


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    from jaxrec.agents.closed_loop import LoopConfig, run_closed_loop
    from jaxrec.agents.marketplace import EXAMPLE_POLICY_PATH
    from jaxrec.commands._outputs import claim_out, finish_out
    from jaxrec.data import synthetic_world
    from jaxrec.envs.platform import PlatformEnv
    from jaxrec.experiments.config import EXPERIMENT_CONFIGS
    from jaxrec.experiments.dashboard import evaluate_alerts, summarise_runs, write_dashboard
    from jaxrec.io import write_json, write_parquet

    if args.print_example_policy or args.print_config:
        shown = EXAMPLE_POLICY_PATH if args.print_example_policy else EXPERIMENT_CONFIGS / CONFIG
        print(shown.read_text(), end="")
        return 0
    policy, settings = validate(args)
    config = LoopConfig(
        scorer=args.scorer,
        retrain_every=args.retrain_every,
        updates=args.updates,
        epsilon=args.epsilon,
    )
    world = synthetic_world(settings.world_seed, settings.world)
    env = PlatformEnv(n_users=settings.world.n_users, **settings.env_static)
    params = env.default_params(world, **settings.env_params)
    run = settings.run
    if args.policy:
        check_floors(policy, world)
    runs = {args.scorer: None}
    if args.policy:
        runs[f"{args.scorer}+policy"] = policy.params()
    frames, producer_exposure = [], {}
    for run_name, rerank_params in runs.items():
        frame, carry = run_closed_loop(
            env, params, config, rerank_params, run["worlds"], run["steps"], run["seed"],
            run["chunk"], progress=not args.no_progress, desc=run_name,
        )  # fmt: skip
        frames.append(frame.assign(run=run_name))
        producer_exposure[run_name] = carry.state.producer_exposure[0]
    frame = pd.concat(frames, ignore_index=True)
    out = claim_out(args.out, "closed-loop", overwrite=args.overwrite)
    write_parquet(out / "metrics.parquet", frame)
    alerts = evaluate_alerts(frame, policy.alerts, per_world=args.alerts_per_world)
    write_json(out / "alerts.json", alerts)
    summary = summarise_runs(frame)
    write_json(
        out / "summary.json",
        {
            "scorer": args.scorer,
            "policy": policy.source,
            "env": repr(env),
            "loop": dataclasses.asdict(config),
            "world": {"seed": settings.world_seed, **dataclasses.asdict(settings.world)},
            "env_params": settings.env_params,
            "run": run,
            "steps": run["steps"],
            "worlds": run["worlds"],
            "summary": summary.reset_index().to_dict(orient="records"),
        },
    )
    judged = (
        "each world's own series (the first world to breach is shown)"
        if args.alerts_per_world
        else "the mean over worlds (--alerts-per-world judges each world)"
    )
    about = (
        f"scorer {args.scorer}, retrained every {args.retrain_every} steps; policy "
        f"{policy.source}; {run['worlds']} worlds x {run['steps']} steps; {env!r}. Alerts are judged "
        f"on {judged}."
    )
    page = write_dashboard(
        frame, alerts, out, "jaxrec closed loop: marketplace health", about, producer_exposure
    )
    with pd.option_context("display.width", 160, "display.max_columns", None):
        print(summary.T.to_string(float_format=lambda x: f"{x:.4g}"))
    for run_name, reports in alerts.items():
        for r in reports:
            when = f"fired at step {r['step']}" if r["fired"] else "did not fire"
            print(f"alert [{run_name}] {r['name']}: {when}")
    finish_out(out)
    empty = frame.groupby("run", sort=False)["empty_positions"].mean()
    for run_name, share in empty.items():
        if share > 0:
            print(
                f"warning [{run_name}]: {share:.1%} of slate positions stayed empty: the policy's "
                "floors passed fewer items than the slate size (lower floors.relevance or "
                "floors.quality to fill them)"
            )
    print(f"wrote {out}/metrics.parquet, alerts.json, summary.json, plots and {page.name}")
    return 0


def validate(args: argparse.Namespace):
    """Check the options, the config and policy files, ``--out`` and the memory estimate; write
    nothing. Returns the marketplace policy and the experiment's settings (a
    :class:`~jaxrec.experiments.config.SimulationConfig`)."""
    from jaxrec.agents.marketplace import default_policy, load_policy
    from jaxrec.commands._outputs import check_out
    from jaxrec.commands._sizes import check_fits, platform_bytes
    from jaxrec.experiments.config import load_experiment_config

    if args.print_example_policy or args.print_config:
        return None, None
    check_out(args.out, "closed-loop", overwrite=args.overwrite)
    settings = load_experiment_config(
        experiment_config_path(args, CONFIG),
        "closed-loop",
        reads={
            "world": None,
            "env": None,
            "run": ["steps", "worlds", "seed", "chunk"],
        },
        run_keys={"worlds": 4, "seed": 0},
        refused={
            "env.n_users": "every user of the world is served each step (set world.n_users)",
            "env.log_steps": "the scorer's training log is --retrain-every steps long",
        },
        overrides=[
            ("--users", "world.n_users", args.users),
            ("--items", "world.n_items", args.items),
            ("--producers", "world.n_producers", args.producers),
            ("--seed", "world.seed", args.seed),
            ("--slate", "env.slate_size", args.slate),
            ("--popularity-beta", "env.popularity_beta", args.popularity_beta),
            ("--steps", "run.steps", args.steps),
            ("--worlds", "run.worlds", args.worlds),
            ("--seed", "run.seed", args.seed),
            ("--chunk", "run.chunk", args.chunk),
            ("--retrain-every", "env.log_steps", args.retrain_every),
        ],
    )
    policy = load_policy(args.policy) if args.policy else default_policy()
    slate_size = settings.probe_env().slate_size
    policy.check_slate_size(slate_size)
    runs = 2 if args.policy else 1
    world, run = settings.world, settings.run
    check_fits(
        platform_bytes(
            n_users=world.n_users,
            n_items=world.n_items,
            dim=world.dim,
            slate_size=slate_size,
            n_worlds=run["worlds"] * runs,
            chunk=min(run["chunk"], run["steps"]),
            log_steps=settings.env_static["log_steps"],
        ),
        f"{run['worlds']} world(s) of {world.n_users} users x {world.n_items} items",
        allow_large=args.allow_large,
    )
    return policy, settings


def check_floors(policy, world) -> None:
    """Refuse a policy whose quality floor no live item of ``world`` meets (every slate would be
    empty). The relevance floor depends on the learned scorer, so it is checked as the run goes:
    the ``empty_positions`` health metric counts what the floors left empty."""
    import numpy as np

    from jaxrec.errors import ConfigError

    floor = float(policy.sections["floors"]["quality"])
    quality = np.asarray(world.item_quality)[np.asarray(world.item_alive)]
    passing = int((quality >= floor).sum())
    if passing == 0:
        raise ConfigError(
            "floors.quality",
            f"{floor:g} is above the quality of every live item (best {quality.max():.3g}); "
            "every slate would be empty",
        )
