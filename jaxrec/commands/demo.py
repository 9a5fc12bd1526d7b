"""``jaxrec demo``: the Matthew effect on the built-in synthetic world, and why a fairness fix must
be dynamic: the static re-ranker with labels frozen at deployment drifts while FairCo holds its
target, beside random and most-popular."""

from __future__ import annotations

import argparse

from jaxrec.commands._options import (
    add_allow_large,
    add_popularity_beta,
    env_overrides,
    nonnegative_int,
    positive_int,
)
from jaxrec.commands._outputs import add_out_option

DEMO_POLICIES = ("random", "most_popular", "frozen_rerank", "fairco")
HEAD_RATIO = 0.3  # frozen_rerank's and FairCo's target share of head items in a slate
SLATE = 10


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run the demo simulation (synthetic world, four policies)",
        description="Simulate random, most-popular, the static re-ranker with head labels frozen "
        "at deployment, and the FairCo controller (both targeting 3 head items per 10-item "
        "slate) over parallel synthetic worlds; print a comparison table and write results and "
        "plots. DIR/metrics.parquet is streamed as Parquet parts, one per chunk; Ctrl-C stops "
        "after the current chunk and keeps the finished steps.",
    )
    add_out_option(
        parser, required=False, default="jaxrec-demo", help="output folder (default ./jaxrec-demo)"
    )
    parser.add_argument("--worlds", type=positive_int, default=4)
    parser.add_argument("--users", type=positive_int, default=512)
    parser.add_argument("--items", type=positive_int, default=1000)
    parser.add_argument("--steps", type=positive_int, default=400)
    parser.add_argument("--seed", type=nonnegative_int, default=0)
    add_popularity_beta(parser)
    parser.add_argument("--no-progress", action="store_true")
    add_allow_large(parser)
    parser.set_defaults(func=run, validate=validate)


def validate(args: argparse.Namespace) -> None:
    """Check ``--out``, the sizes and the memory estimate; write nothing."""
    from jaxrec.commands._outputs import check_out
    from jaxrec.commands._sizes import check_fits, platform_bytes
    from jaxrec.errors import ConfigError

    check_out(args.out, "demo", overwrite=args.overwrite)
    if args.items < SLATE:
        raise ConfigError("--items", f"must be >= the slate size {SLATE}, got {args.items}")
    check_fits(
        platform_bytes(
            n_users=args.users, n_items=args.items, dim=16, slate_size=SLATE, n_worlds=args.worlds
        ),
        f"{args.worlds} world(s) of {args.users} users x {args.items} items",
        allow_large=args.allow_large,
    )


def run(args: argparse.Namespace) -> int:
    import jax

    from jaxrec.commands._interrupt import stop_requests
    from jaxrec.commands._outputs import claim_out, finish_out, part_writer
    from jaxrec.data import synthetic_world
    from jaxrec.envs.platform import PlatformEnv
    from jaxrec.errors import Interrupted
    from jaxrec.experiments.plots import plot_lorenz, plot_metric_over_time
    from jaxrec.experiments.simulation import format_summary, run_policies, summarise
    from jaxrec.io import write_json

    validate(args)
    world = synthetic_world(
        args.seed, n_users=args.users, n_items=args.items, n_producers=min(64, args.items)
    )
    env = PlatformEnv(n_users=args.users, slate_size=SLATE)
    params = env.default_params(world, **env_overrides(args))
    print(
        f"jaxrec demo: {args.worlds} worlds x {args.users} users x {args.items} items, "
        f"slate {SLATE}, {args.steps} steps, on {jax.devices()[0].platform}"
    )
    out = claim_out(args.out, "demo", overwrite=args.overwrite, policies=list(DEMO_POLICIES))
    with stop_requests() as should_stop:
        try:
            frame, finals = run_policies(
                env,
                params,
                DEMO_POLICIES,
                n_worlds=args.worlds,
                n_steps=args.steps,
                seed=args.seed,
                chunk=50,
                progress=not args.no_progress,
                policy_kwargs={
                    "frozen_rerank": {"head_ratio": HEAD_RATIO},
                    "fairco": {"head_ratio": HEAD_RATIO},
                },
                on_chunk=part_writer(out / "metrics.parquet"),
                should_stop=should_stop,
            )
        except Interrupted as err:
            raise Interrupted(
                f"{err}; the finished steps are in {out}/metrics.parquet (`jaxrec report {out}` "
                "reads them). demo cannot resume: run it again with --overwrite"
            ) from None
    summary = summarise(frame)
    write_json(out / "summary.json", summary.to_dict(orient="records"))
    plot_metric_over_time(
        frame,
        "exposure_gini",
        out / "exposure_gini.png",
        ylabel="exposure Gini",
        title="Exposure Gini of live items over time (mean over worlds, min-max band)",
    )
    plot_metric_over_time(
        frame,
        "cost",
        out / "head_per_slate.png",
        ylabel="head items per slate (current labels)",
        title="Head items per slate by the current labels (mean over worlds, min-max band)",
    )
    plot_lorenz(finals, out / "lorenz.png")
    finish_out(out)
    print()
    print(format_summary(summary))
    gini = frame.groupby(["policy", "step"])["exposure_gini"].mean()
    first, last = gini["most_popular"].iloc[0], gini["most_popular"].iloc[-1]
    print(
        f"\nMatthew effect: under most_popular the exposure Gini went {first:.3f} -> {last:.3f}; "
        f"under random it ended at {gini['random'].iloc[-1]:.3f}."
    )
    head = frame.groupby(["policy", "step"])["cost"].mean()
    target = HEAD_RATIO * env.slate_size
    late = frame.step > args.steps // 2
    print(
        f"Static fairness drifts: with labels frozen at deployment, frozen_rerank serves "
        f"{head['frozen_rerank'].iloc[0]:.2f} head items per slate (by the current labels) at "
        f"step 1 and {frame[late & (frame.policy == 'frozen_rerank')].cost.mean():.2f} over the "
        f"last half; FairCo, a controller on the live labels, holds "
        f"{frame[late & (frame.policy == 'fairco')].cost.mean():.2f} against the target "
        f"{target:g}."
    )
    print(
        f"wrote {out}/metrics.parquet, summary.json, exposure_gini.png, head_per_slate.png, "
        "lorenz.png"
    )
    return 0
