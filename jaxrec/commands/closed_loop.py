"""``jaxrec closed-loop``: a learned scorer retrained on its own logs, with and without a marketplace
policy; writes the health table, the alerts, plots and a dashboard page."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from jaxrec.commands._options import add_popularity_beta, env_overrides


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
    parser.add_argument("--steps", type=int, default=500, help="horizon (default 500)")
    parser.add_argument("--worlds", type=int, default=4, help="parallel worlds (default 4)")
    parser.add_argument("--users", type=int, default=512, help="users per step (default 512)")
    parser.add_argument("--items", type=int, default=1000, help="catalogue slots (default 1000)")
    parser.add_argument("--producers", type=int, default=64)
    parser.add_argument("--slate", type=int, default=10)
    parser.add_argument("--retrain-every", type=int, default=50)
    parser.add_argument("--updates", type=int, default=50, help="optax steps per retrain")
    parser.add_argument("--epsilon", type=float, default=0.0, help="exploration probability")
    parser.add_argument("--seed", type=int, default=0)
    add_popularity_beta(parser)
    parser.add_argument("--chunk", type=int, default=100, help="steps per compiled chunk")
    parser.add_argument("--out", help="output directory (required unless printing the example)")
    parser.add_argument(
        "--print-example-policy",
        action="store_true",
        help="print the commented example policy file and exit",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    from jaxrec.agents.closed_loop import LoopConfig, run_closed_loop
    from jaxrec.agents.marketplace import EXAMPLE_POLICY_PATH, default_policy, load_policy
    from jaxrec.data import synthetic_world
    from jaxrec.envs.platform import PlatformEnv
    from jaxrec.errors import ConfigError
    from jaxrec.experiments.dashboard import evaluate_alerts, summarise_runs, write_dashboard
    from jaxrec.io import write_json, write_parquet

    if args.print_example_policy:
        print(EXAMPLE_POLICY_PATH.read_text(), end="")
        return 0
    if not args.out:
        raise ConfigError("--out", "the output directory is required")

    for name in ("steps", "worlds", "users", "items", "producers", "slate", "chunk"):
        if getattr(args, name) < 1:
            raise ConfigError(f"--{name}", f"must be >= 1, got {getattr(args, name)}")
    policy = load_policy(args.policy) if args.policy else default_policy()
    policy.check_slate_size(args.slate)
    config = LoopConfig(
        scorer=args.scorer,
        retrain_every=args.retrain_every,
        updates=args.updates,
        epsilon=args.epsilon,
    )
    world = synthetic_world(
        args.seed, n_users=args.users, n_items=args.items, n_producers=args.producers
    )
    env = PlatformEnv(n_users=args.users, slate_size=args.slate, log_steps=args.retrain_every)
    params = env.default_params(world, **env_overrides(args))
    runs = {args.scorer: None}
    if args.policy:
        runs[f"{args.scorer}+policy"] = policy.params()
    frames, producer_exposure = [], {}
    for run_name, rerank_params in runs.items():
        frame, carry = run_closed_loop(
            env, params, config, rerank_params, args.worlds, args.steps, args.seed, args.chunk,
            progress=not args.no_progress, desc=run_name,
        )  # fmt: skip
        frames.append(frame.assign(run=run_name))
        producer_exposure[run_name] = carry.state.producer_exposure[0]
    frame = pd.concat(frames, ignore_index=True)
    out = Path(args.out)
    write_parquet(out / "metrics.parquet", frame)
    alerts = evaluate_alerts(frame, policy.alerts)
    write_json(out / "alerts.json", alerts)
    summary = summarise_runs(frame)
    write_json(
        out / "summary.json",
        {
            "scorer": args.scorer,
            "policy": policy.source,
            "env": repr(env),
            "loop": dataclasses.asdict(config),
            "steps": args.steps,
            "worlds": args.worlds,
            "summary": summary.reset_index().to_dict(orient="records"),
        },
    )
    about = (
        f"scorer {args.scorer}, retrained every {args.retrain_every} steps; policy "
        f"{policy.source}; {args.worlds} worlds x {args.steps} steps; {env!r}"
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
    print(f"wrote {out}/metrics.parquet, alerts.json, summary.json, plots and {page.name}")
    return 0
