"""``jaxrec closed-loop``: a learned scorer retrained on its own logs, with and without a marketplace
policy; writes the health table, the alerts, plots and a dashboard page."""

from __future__ import annotations

import argparse
import dataclasses

from jaxrec.commands._options import (
    add_allow_large,
    add_popularity_beta,
    env_overrides,
    fraction,
    nonnegative_int,
)
from jaxrec.commands._outputs import add_out_option


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
    parser.add_argument("--epsilon", type=fraction, default=0.0, help="exploration probability")
    parser.add_argument("--seed", type=nonnegative_int, default=0)
    add_popularity_beta(parser)
    parser.add_argument("--chunk", type=int, default=100, help="steps per compiled chunk")
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
    from jaxrec.experiments.dashboard import evaluate_alerts, summarise_runs, write_dashboard
    from jaxrec.io import write_json, write_parquet

    if args.print_example_policy:
        print(EXAMPLE_POLICY_PATH.read_text(), end="")
        return 0
    policy = validate(args)
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
    if args.policy:
        check_floors(policy, world)
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
            "steps": args.steps,
            "worlds": args.worlds,
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
        f"{policy.source}; {args.worlds} worlds x {args.steps} steps; {env!r}. Alerts are judged "
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
    """Check the options, the policy file, ``--out`` and the memory estimate; write nothing.
    Returns the marketplace policy."""
    from jaxrec.agents.marketplace import default_policy, load_policy
    from jaxrec.commands._outputs import check_out
    from jaxrec.commands._sizes import check_fits, platform_bytes

    check_out(args.out, "closed-loop", overwrite=args.overwrite)
    policy = load_policy(args.policy) if args.policy else default_policy()
    policy.check_slate_size(args.slate)
    runs = 2 if args.policy else 1
    check_fits(
        platform_bytes(
            n_users=args.users,
            n_items=args.items,
            dim=32,
            slate_size=args.slate,
            n_worlds=args.worlds * runs,
            chunk=args.chunk,
            log_steps=args.retrain_every,
        ),
        f"{args.worlds} world(s) of {args.users} users x {args.items} items",
        allow_large=args.allow_large,
    )
    return policy


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
