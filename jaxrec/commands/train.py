"""``jaxrec train cpo|ppo-lag|compare|sweep|evaluate|platform``: train constrained recommenders on
the FCPO protocol (seeds and cost limits as one compiled program), compare them with the static
baselines, sweep the NDCG-vs-Gini trade-off, reload a saved agent, and run the long-run platform
experiment. Each mode is its own parser showing only the options it reads."""

from __future__ import annotations

import argparse

from jaxrec.commands._options import (
    add_allow_large,
    add_data_options,
    add_out,
    add_popularity_beta,
    add_seeds,
    at_least,
    comma_list,
    data_dir,
    fraction,
    limit,
    nonnegative_float,
    nonnegative_int,
    positive_float,
)

CUTOFFS = (5, 10, 20)  # equal to jaxrec.experiments.fcpo.CUTOFFS (kept import-free)

PROTOCOL_DESCRIPTION = (
    "Split ratings chronologically (FCPO protocol), fit MF item embeddings on the training part, "
    "label the popular group from training counts"
)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train CPO (FCPO) or PPO-Lagrangian on the FCPO protocol (seeds as one program)",
        description=(
            "Constrained recommenders on the FCPO protocol and on the dynamic platform. "
            "`jaxrec train MODE --help` lists the options of each mode."
        ),
    )
    modes = parser.add_subparsers(dest="algorithm", metavar="MODE")
    modes.required = True
    for algorithm in ("cpo", "ppo-lag"):
        _fcpo_mode(
            modes,
            algorithm,
            f"train {algorithm.upper()} agents (seeds as one program) and score them",
            f"train S {algorithm} seeds at once under a cost limit on popular-item "
            "recommendations per episode, then evaluate the policy (--test-action) on the held-out "
            "histories. Writes DIR/results.json (metrics at K = 5, 10, 20, mean and std over "
            "seeds), DIR/train_log.parquet, DIR/learning_curves.png and the agent's orbax "
            "checkpoint DIR/agent/.",
            _run_train,
            cpo=algorithm == "cpo",
        )
    _fcpo_mode(
        modes,
        "compare",
        "the FCPO table: static baselines, CPO, unconstrained CPO, PPO-Lagrangian",
        "then score the static baselines, CPO at the limit and unconstrained, PPO-Lagrangian and "
        "the re-ranker matched to CPO's popular rate on the same test rollout. Writes "
        "DIR/comparison.json and DIR/comparison.csv.",
        _run_compare,
    )
    sweep = _fcpo_mode(
        modes,
        "sweep",
        "NDCG vs Gini and PopRate, with bootstrap CIs, over --limits (CPO, PPO-Lagrangian) and "
        "--head-ratios (static re-ranker)",
        "train CPO and PPO-Lagrangian at every limit x seed (one program each), score them, the "
        "static re-ranker at every head ratio, most-popular and MF-greedy on the same test users, "
        "with the users' seen items allowed and excluded (both; training does not depend on it), "
        "and bootstrap over test users and seeds. Prints the table (NDCG gaps to the re-ranker's "
        "curve at equal PopRate and Gini, 'ns' where not significant). Writes DIR/tradeoff.json "
        "(mean, ci_low, ci_high of every figure) and DIR/tradeoff.png.",
        _run_sweep,
        cost_limit=False,
        exclude_seen=False,
    )
    sweep.add_argument(
        "--limits",
        type=comma_list(limit),
        default="1,2,3,5",
        help="comma-separated cost limits per episode",
    )
    sweep.add_argument(
        "--head-ratios",
        type=comma_list(fraction),
        default="0,0.1,0.2,0.3,0.4,0.5,0.6,0.8,1",
        help="comma-separated head ratios of the static re-ranker",
    )
    sweep.add_argument("--sweep-k", type=int, default=10, help="metric cut-off K (default 10)")
    sweep.add_argument(
        "--bootstrap",
        type=int,
        default=1000,
        help="bootstrap draws over test users and seeds for the CIs (default 1000)",
    )
    evaluate = modes.add_parser(
        "evaluate",
        help="reload an agent saved by cpo / ppo-lag and score it on the same data options",
        description=(
            "Rebuild the FCPO protocol from the data options (give the ones the agent was trained "
            "with), reload the agent in --agent DIR and score it. Writes DIR/results.json."
        ),
    )
    _protocol_options(evaluate, train_steps=False)
    evaluate.add_argument("--agent", help="an agent folder written by cpo / ppo-lag")
    add_out(evaluate)
    evaluate.set_defaults(func=_run_evaluate, validate=_validate)
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
    platform.set_defaults(func=_run_platform, validate=_validate)


def _fcpo_mode(
    modes: argparse._SubParsersAction,
    name: str,
    help: str,
    what: str,
    func,
    cost_limit: bool = True,
    exclude_seen: bool = True,
    cpo: bool = True,
) -> argparse.ArgumentParser:
    """A mode that builds the FCPO protocol and trains agents on it: its parser, with the data,
    protocol and training options, handled by ``func``."""
    parser = modes.add_parser(name, help=help, description=f"{PROTOCOL_DESCRIPTION}, {what}")
    _protocol_options(parser, exclude_seen=exclude_seen)
    _training_options(parser, cost_limit, cpo)
    add_allow_large(parser)
    parser.set_defaults(func=func, validate=_validate)
    return parser


def _protocol_options(
    parser: argparse.ArgumentParser, train_steps: bool = True, exclude_seen: bool = True
) -> None:
    """The data options that build the FCPO protocol (:func:`_protocol`), and how trained agents
    act at test."""
    add_data_options(parser)
    if train_steps:
        parser.add_argument("--train-steps", type=int, default=10, help="training episode length")
    parser.add_argument("--test-steps", type=int, default=20, help="test episode length (>= 20)")
    parser.add_argument("--dim", type=int, default=32, help="MF item-embedding dimension")
    if exclude_seen:
        parser.add_argument(
            "--exclude-seen",
            action="store_true",
            help="at test, never recommend a user's initial/training items (every method; the "
            "FCPO paper's protocol leaves them recommendable)",
        )
    parser.add_argument(
        "--test-action",
        choices=("sample", "mean"),
        default="sample",
        help="how a trained agent acts at test: 'sample' from its Gaussian policy (the policy "
        "the cost limit holds; default) or its 'mean' action (deterministic; the limit does not "
        "bound it)",
    )
    parser.add_argument("--mf-epochs", type=int, default=30, help="MF training epochs")
    parser.add_argument(
        "--synthetic-users", type=int, default=943, help="users of the synthetic log"
    )
    parser.add_argument(
        "--synthetic-items", type=int, default=1682, help="items of the synthetic log"
    )
    parser.add_argument(
        "--synthetic-per-user", type=int, default=60, help="interactions per synthetic user"
    )
    parser.add_argument("--data-seed", type=int, default=0, help="synthetic data and MF seed")


def _training_options(parser: argparse.ArgumentParser, cost_limit: bool, cpo: bool) -> None:
    """Iterations, trust region and seeds of the trained agents (and their cost limit; and CPO's
    learned margin when the mode trains CPO)."""
    if cost_limit:
        parser.add_argument(
            "--cost-limit",
            type=limit,
            default=float("inf"),
            help="allowed popular-group recommendations per training episode "
            "(default: unconstrained)",
        )
    parser.add_argument("--iterations", type=int, default=100, help="policy updates (default 100)")
    parser.add_argument(
        "--delta",
        type=positive_float,
        default=0.05,
        help="CPO trust region (KL per update; default 0.05: at 0.01 the agents' mean action grows "
        "too slowly to leave random-level accuracy within a few hundred iterations)",
    )
    if cpo:
        parser.add_argument(
            "--cost-margin-lr",
            type=float,
            default=0.5,
            help="CPO's learned cost margin: integral control of the training cost's excess over "
            "the limit (0: off; default 0.5, a ~10-iteration time constant for the measured "
            "optimism of CPO's cost prediction; README, FCPO)",
        )
    add_seeds(parser, help="seeds trained at once (default 3)")
    add_out(parser)


def _load_ratings(args: argparse.Namespace):
    import jax

    from jaxrec.data.loaders import load_ratings
    from jaxrec.envs.fcpo import planted_ratings

    if args.data == "synthetic":
        ratings = planted_ratings(
            jax.random.key(args.data_seed),
            args.synthetic_users,
            args.synthetic_items,
            per_user=args.synthetic_per_user,
        )
        return ratings, args.synthetic_items
    data = load_ratings(args.data, data_dir(args))
    return data.ratings, data.n_items


def _protocol(args: argparse.Namespace, train_steps: int):
    """The FCPO protocol of the data options; ``train_steps`` is the training episode length."""
    from jaxrec.experiments.fcpo import Protocol

    setup = _setup(args)
    return Protocol.from_setup(setup, train_steps, args.test_steps, args.exclude_seen)


def _setup(args: argparse.Namespace):
    """The split, popular group and MF embeddings of the data options."""
    import jax

    from jaxrec.envs.fcpo import fcpo_setup
    from jaxrec.models.mf import MFConfig

    ratings, n_items = _load_ratings(args)
    setup = fcpo_setup(
        jax.random.key(args.data_seed),
        ratings,
        n_items=n_items,
        mf_config=MFConfig(dim=args.dim, epochs=args.mf_epochs),
    )
    print(
        f"{args.data}: {len(setup.split.users)} users, {setup.split.n_items} items, popular "
        f"group {int(setup.is_head.sum())} items (pivot {setup.pivot})",
        flush=True,
    )
    return setup


def _trained_protocol(args: argparse.Namespace):
    """The protocol with ``--train-steps`` training episodes."""
    return _protocol(args, args.train_steps)


# users x items of the MovieLens files (the synthetic log's come from the options)
_MOVIELENS_SHAPES = {"ml-100k": (943, 1682), "ml-1m": (6040, 3706)}


def _validate(args: argparse.Namespace) -> None:
    """Check the options of every mode, ``--out`` and the memory estimate; load and write nothing."""
    from pathlib import Path

    from jaxrec.commands._outputs import check_out
    from jaxrec.commands._sizes import check_fits, platform_bytes, training_bytes
    from jaxrec.errors import ConfigError

    check_out(args.out, f"train {args.algorithm}", overwrite=args.overwrite)
    if args.algorithm == "platform":
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
        return
    if "test_steps" in args:
        at_least(args.test_steps, "test_steps", max(CUTOFFS))
    if args.data != "synthetic":
        data_dir(args)
        users, items = _MOVIELENS_SHAPES[args.data]
    else:
        users, items = args.synthetic_users, args.synthetic_items
    if args.algorithm == "evaluate":
        if not args.agent:
            raise ConfigError(
                "--agent", "evaluate needs --agent DIR (a folder written by cpo/ppo-lag)"
            )
        agent = Path(args.agent)
        if not (agent / "agent.json").is_file():
            inner = agent / "agent" / "agent.json"
            hint = f"; did you mean {agent / 'agent'}?" if inner.is_file() else ""
            raise ConfigError("--agent", f"{agent} holds no saved agent (agent.json){hint}")
        return
    batch = args.seeds * (
        len(args.limits) if args.algorithm == "sweep" else 3 if args.algorithm == "compare" else 1
    )
    check_fits(
        training_bytes(n_users=users, n_items=items, steps=args.train_steps, batch=batch),
        f"{batch} agents on {users} users x {items} items",
        allow_large=args.allow_large,
    )


def _run_train(args: argparse.Namespace) -> int:
    import time

    from jaxrec.agents.checkpoint import save_agent
    from jaxrec.agents.train import CPOConfig
    from jaxrec.experiments.fcpo import (
        plot_learning_curves,
        policy_metrics,
        summarise,
        train_grid,
        train_log_frame,
    )
    from jaxrec.io import save_figure, write_json, write_parquet

    _validate(args)
    config = CPOConfig(
        algorithm=args.algorithm,
        iterations=args.iterations,
        cost_limit=args.cost_limit,
        delta=args.delta,
        cost_margin_lr=args.cost_margin_lr if args.algorithm == "cpo" else 0.0,
    )
    protocol = _trained_protocol(args)

    print(
        f"training {args.seeds} seed(s) x {args.iterations} iterations of {args.algorithm} "
        f"(limit {args.cost_limit}) ...",
        flush=True,
    )
    started = time.perf_counter()
    runner, log = train_grid(
        config, protocol.train_env, protocol.train_params, [args.cost_limit], args.seeds
    )
    seconds = time.perf_counter() - started
    metrics = policy_metrics(runner.policy, config, protocol, test_action=args.test_action)
    results = {
        "algorithm": args.algorithm,
        "data": args.data,
        "cost_limit": args.cost_limit,
        "iterations": args.iterations,
        "seeds": args.seeds,
        "test_action": args.test_action,
        "train_seconds": seconds,
        "final_train_cost": float(log["episode_cost"][0, :, -10:].mean()),
        "final_train_return": float(log["episode_return"][0, :, -10:].mean()),
        "metrics": summarise({name: v[0] for name, v in metrics.items()}),
    }
    frame = train_log_frame({name: value[0] for name, value in log.items()})
    out = _claim(args)
    write_json(out / "results.json", results)
    write_parquet(out / "train_log.parquet", frame)
    save_figure(out / "learning_curves.png", plot_learning_curves(frame, args.cost_limit))
    save_agent(out / "agent", _first(runner.policy), config, data=args.data, seeds=args.seeds)
    m = results["metrics"]
    print(
        f"trained in {seconds:.1f}s; test @10: ndcg {m['ndcg@10']['mean']:.4f}, recall "
        f"{m['recall@10']['mean']:.4f}, gini {m['gini@10']['mean']:.4f}, pop_rate "
        f"{m['pop_rate@10']['mean']:.4f}; wrote {out}/results.json, train_log.parquet, "
        "learning_curves.png, agent/"
    )
    return 0


def _run_compare(args: argparse.Namespace) -> int:
    from jaxrec.experiments.fcpo import compare_methods, table_frame
    from jaxrec.io import atomic_path, write_json

    _validate(args)
    protocol = _trained_protocol(args)
    print(
        f"comparing the static baselines, CPO and PPO-Lagrangian (limit {args.cost_limit}, "
        f"{args.seeds} seed(s) x {args.iterations} iterations) ...",
        flush=True,
    )
    table = compare_methods(
        protocol,
        args.cost_limit,
        args.iterations,
        args.seeds,
        {"delta": args.delta, "cost_margin_lr": args.cost_margin_lr},
        test_action=args.test_action,
    )
    frame = table_frame(table)
    out = _claim(args)
    write_json(
        out / "comparison.json",
        {
            "data": args.data,
            "cost_limit": args.cost_limit,
            "iterations": args.iterations,
            "seeds": args.seeds,
            "methods": table,
        },
    )
    with atomic_path(out / "comparison.csv") as tmp:
        frame.to_csv(tmp, index=False)
    shown = [f"{m}@{k}" for k in CUTOFFS for m in ("recall", "f1", "ndcg", "gini", "pop_rate")]
    print(frame.set_index("method")[shown].to_string(float_format=lambda v: f"{v:.4f}"))
    print(f"wrote {out}/comparison.json, comparison.csv")
    return 0


def _run_sweep(args: argparse.Namespace) -> int:
    import jax

    from jaxrec.experiments.fcpo import Protocol
    from jaxrec.experiments.fcpo_curves import PROTOCOLS, curves_table, plot_curves, run_curves
    from jaxrec.io import save_figure, write_json

    _validate(args)
    limits, ratios = args.limits, args.head_ratios
    setup = _setup(args)
    protocols = {
        name: Protocol.from_setup(setup, args.train_steps, args.test_steps, exclude)
        for name, exclude in PROTOCOLS.items()
    }
    print(
        f"trade-off sweep: CPO and PPO-Lagrangian at limits {limits} x {args.seeds} seed(s), "
        f"static re-ranker at head ratios {ratios}, most-popular and MF-greedy; tested with seen "
        f"items allowed and excluded; {args.bootstrap} bootstrap draws over test users and seeds",
        flush=True,
    )
    results = run_curves(
        protocols,
        limits,
        ratios,
        args.iterations,
        args.seeds,
        k=args.sweep_k,
        config_overrides={"delta": args.delta, "cost_margin_lr": args.cost_margin_lr},
        test_action=args.test_action,
        n_draws=args.bootstrap,
        key=jax.random.key(args.data_seed),
    )
    out = _claim(args)
    write_json(
        out / "tradeoff.json",
        {
            "data": args.data,
            "k": args.sweep_k,
            "limits": limits,
            "head_ratios": ratios,
            "iterations": args.iterations,
            "seeds": args.seeds,
            "delta": args.delta,
            "cost_margin_lr": args.cost_margin_lr,
            "test_action": args.test_action,
            "bootstrap_draws": args.bootstrap,
            "train_steps": args.train_steps,
            "protocols": results,
        },
    )
    save_figure(out / "tradeoff.png", plot_curves(results, args.sweep_k))
    for name, summary in results.items():
        print(f"\n{name} (@{args.sweep_k}; mean [95% CI]; ns: the gap's CI covers 0)")
        print(curves_table(summary).to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"wrote {out}/tradeoff.json, tradeoff.png")
    return 0


def _run_evaluate(args: argparse.Namespace) -> int:
    from pathlib import Path

    from jaxrec.agents.checkpoint import load_agent
    from jaxrec.experiments.fcpo import policy_metrics, summarise
    from jaxrec.io import write_json

    _validate(args)
    policy, config, metadata = load_agent(args.agent)
    # scoring uses only the test side of the protocol; the training episode length is unused
    metrics = policy_metrics(
        policy,
        config,
        _protocol(args, train_steps=1),
        batch_dims=1,
        test_action=args.test_action,
    )
    results = {
        "agent": str(Path(args.agent).absolute()),
        "algorithm": config.algorithm,
        "data": args.data,
        "metadata": metadata,
        "metrics": summarise(metrics),
    }
    write_json(_claim(args) / "results.json", results)
    m = results["metrics"]
    print(
        f"reloaded {config.algorithm} agent: test @10 ndcg {m['ndcg@10']['mean']:.4f}, gini "
        f"{m['gini@10']['mean']:.4f}, pop_rate {m['pop_rate@10']['mean']:.4f}; wrote "
        f"{args.out}/results.json"
    )
    return 0


def _run_platform(args: argparse.Namespace) -> int:
    from jaxrec.experiments.platform_long_run import (
        LongRunExperiment,
        format_summary,
        run_long_run,
        summarise,
        write_results,
    )

    _validate(args)
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
    out = _claim(args)
    written = write_results(out, frame, summary, experiment)
    print(format_summary(summary))
    print(f"wrote {out}/" + ", ".join(written))
    return 0


def _claim(args: argparse.Namespace):
    """Create ``--out`` (checked by :func:`_validate` before the work) just before the results are
    written: training is one compiled program, so an interrupted run leaves no folder behind."""
    from jaxrec.commands._outputs import claim_out, finish_out

    out = claim_out(args.out, f"train {args.algorithm}", overwrite=args.overwrite)
    finish_out(out)  # the results below are written atomically, file by file
    return out


def _first(policy):
    """The seed batch of the only limit of a :func:`train_grid` run: leaves [S, ...]."""
    import jax

    return jax.tree.map(lambda x: x[0], policy)
