"""``jaxrec train cpo|ppo-lag|compare|sweep``: train constrained recommenders on the FCPO protocol
(seeds and cost limits as one compiled program), compare them with the static baselines, and sweep
the NDCG-vs-Gini trade-off."""

from __future__ import annotations

import argparse

DATA_CHOICES = ("synthetic", "ml-100k", "ml-1m", "ml-latest")
CUTOFFS = (5, 10, 20)  # equal to jaxrec.agents.fcpo_experiment.CUTOFFS (kept import-free)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train CPO (FCPO) or PPO-Lagrangian on the FCPO protocol (seeds as one program)",
        description=(
            "Split ratings chronologically (FCPO protocol), fit MF item embeddings on the training "
            "part, label the popular group from training counts, train S seeds at once under a cost "
            "limit on popular-item recommendations per episode, then evaluate the greedy policy on "
            "the held-out histories. Writes DIR/results.json (metrics at K = 5, 10, 20, mean and "
            "std over seeds), DIR/train_log.parquet, DIR/learning_curves.png and the agent's orbax "
            "checkpoint DIR/agent/. 'compare' writes the methods x metrics table "
            "(DIR/comparison.json, .csv); 'sweep' the NDCG-vs-Gini curve (DIR/tradeoff.csv, "
            ".json, .png)."
        ),
    )
    parser.add_argument(
        "algorithm",
        choices=("cpo", "ppo-lag", "compare", "sweep", "platform", "evaluate"),
        help=(
            "cpo / ppo-lag: train one agent; compare: the FCPO table (static baselines, CPO, "
            "unconstrained CPO, PPO-Lagrangian) -> comparison.json/.csv; sweep: NDCG-vs-Gini over "
            "--limits (CPO) and --head-ratios (static re-ranker) -> tradeoff.csv/.png; platform: "
            "CPO vs unconstrained vs static re-ranker on the dynamic platform over "
            "--platform-steps test steps -> long_run.parquet/.json/.png; evaluate: reload the agent "
            "saved in --agent DIR and score it on the same data options -> results.json"
        ),
    )
    parser.add_argument("--data", choices=DATA_CHOICES, default="synthetic")
    parser.add_argument("--data-dir", help="folder with the MovieLens files")
    parser.add_argument(
        "--cost-limit",
        type=float,
        default=float("inf"),
        help="allowed popular-group recommendations per training episode (default: unconstrained)",
    )
    parser.add_argument("--iterations", type=int, default=100, help="policy updates (default 100)")
    parser.add_argument(
        "--delta",
        type=float,
        default=0.05,
        help="CPO trust region (KL per update; default 0.05: at 0.01 the agents' mean action grows "
        "too slowly to leave random-level accuracy within a few hundred iterations)",
    )
    parser.add_argument("--seeds", type=int, default=3, help="seeds trained at once (default 3)")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--train-steps", type=int, default=10, help="training episode length")
    parser.add_argument("--test-steps", type=int, default=20, help="test episode length (>= 20)")
    parser.add_argument("--dim", type=int, default=32, help="MF item-embedding dimension")
    parser.add_argument(
        "--exclude-seen",
        action="store_true",
        help="at test, never recommend a user's initial/training items (every method; the FCPO "
        "paper's protocol leaves them recommendable)",
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
    parser.add_argument(
        "--limits", default="1,2,4,6,10", help="sweep: comma-separated cost limits per episode"
    )
    parser.add_argument(
        "--head-ratios",
        default="0,0.1,0.2,0.3,0.4,0.5,0.6,0.8,1",
        help="sweep: comma-separated head ratios of the static re-ranker",
    )
    parser.add_argument("--sweep-k", type=int, default=10, help="sweep: metric cut-off K")
    parser.add_argument("--agent", help="evaluate: an agent folder written by cpo / ppo-lag")
    platform = parser.add_argument_group("platform (the long-run experiment)")
    platform.add_argument("--platform-users", type=int, default=256)
    platform.add_argument("--platform-items", type=int, default=500)
    platform.add_argument("--platform-steps", type=int, default=400, help="test steps")
    platform.add_argument(
        "--platform-train-steps", type=int, default=50, help="steps per training episode"
    )
    platform.add_argument(
        "--head-per-slate", type=float, default=1.0, help="allowed head items per slate"
    )
    platform.add_argument("--relabel-every", type=int, default=10, help="steps between relabels")
    platform.add_argument("--matthew", type=float, default=1.0, help="popularity_beta")
    parser.set_defaults(func=run)


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
    data = load_ratings(args.data, args.data_dir)
    return data.ratings, data.n_items


def _protocol(args: argparse.Namespace):
    import jax

    from jaxrec.agents.fcpo_experiment import Protocol
    from jaxrec.envs.fcpo import fcpo_setup
    from jaxrec.errors import ConfigError
    from jaxrec.models.mf import MFConfig

    if args.seeds < 1:
        raise ConfigError("seeds", f"must be >= 1, got {args.seeds}")
    if args.test_steps < max(CUTOFFS):
        raise ConfigError("test_steps", f"must be >= {max(CUTOFFS)} to report @{max(CUTOFFS)}")
    ratings, n_items = _load_ratings(args)
    setup = fcpo_setup(
        jax.random.key(args.data_seed),
        ratings,
        n_items=n_items,
        mf_config=MFConfig(dim=args.dim, epochs=args.mf_epochs),
    )
    protocol = Protocol.from_setup(setup, args.train_steps, args.test_steps, args.exclude_seen)
    print(
        f"{args.data}: {protocol.train_env.n_users} users, {setup.split.n_items} items, popular "
        f"group {int(setup.is_head.sum())} items (pivot {setup.pivot})",
        flush=True,
    )
    return protocol


def _floats(text: str, field: str) -> list[float]:
    from jaxrec.errors import ConfigError

    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError as error:
        raise ConfigError(field, f"expected comma-separated numbers, got {text!r}") from error
    if not values:
        raise ConfigError(field, "needs at least one value")
    return values


def run(args: argparse.Namespace) -> int:
    from jaxrec.agents.train import TrainConfig

    if args.algorithm == "platform":
        return _run_platform(args)
    if args.algorithm == "evaluate":
        return _run_evaluate(args)
    if args.algorithm == "compare":
        return _run_compare(args, _protocol(args))
    if args.algorithm == "sweep":
        limits = _floats(args.limits, "limits")
        ratios = _floats(args.head_ratios, "head_ratios")
        return _run_sweep(args, _protocol(args), limits, ratios)
    config = TrainConfig(
        algorithm=args.algorithm,
        iterations=args.iterations,
        cost_limit=args.cost_limit,
        delta=args.delta,
    )
    return _run_train(args, config, _protocol(args))


def _run_train(args: argparse.Namespace, config, protocol) -> int:
    import time
    from pathlib import Path

    import numpy as np
    import pandas as pd

    from jaxrec.agents.checkpoint import save_agent
    from jaxrec.agents.fcpo_experiment import policy_metrics, summarise, train_grid
    from jaxrec.agents.train import METRIC_NAMES
    from jaxrec.io import save_figure, write_json, write_parquet

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
    metrics = policy_metrics(runner.policy, config, protocol)
    results = {
        "algorithm": args.algorithm,
        "data": args.data,
        "cost_limit": args.cost_limit,
        "iterations": args.iterations,
        "seeds": args.seeds,
        "train_seconds": seconds,
        "final_train_cost": float(log["episode_cost"][0, :, -10:].mean()),
        "final_train_return": float(log["episode_return"][0, :, -10:].mean()),
        "metrics": summarise({name: v[0] for name, v in metrics.items()}),
    }
    frame = pd.DataFrame(
        {
            "seed": np.repeat(np.arange(args.seeds), args.iterations),
            "iteration": np.tile(np.arange(args.iterations), args.seeds),
            **{name: np.asarray(log[name][0]).ravel() for name in METRIC_NAMES},
        }
    )
    out = Path(args.out)
    write_json(out / "results.json", results)
    write_parquet(out / "train_log.parquet", frame)
    save_figure(out / "learning_curves.png", _plot(frame, args.cost_limit))
    save_agent(out / "agent", _first(runner.policy), config, data=args.data, seeds=args.seeds)
    m = results["metrics"]
    print(
        f"trained in {seconds:.1f}s; test @10: ndcg {m['ndcg@10']['mean']:.4f}, recall "
        f"{m['recall@10']['mean']:.4f}, gini {m['gini@10']['mean']:.4f}, pop_rate "
        f"{m['pop_rate@10']['mean']:.4f}; wrote {out}/results.json, train_log.parquet, "
        "learning_curves.png, agent/"
    )
    return 0


def _run_compare(args: argparse.Namespace, protocol) -> int:
    from pathlib import Path

    from jaxrec.agents.fcpo_experiment import compare_methods, table_frame
    from jaxrec.io import atomic_path, write_json

    print(
        f"comparing the static baselines, CPO and PPO-Lagrangian (limit {args.cost_limit}, "
        f"{args.seeds} seed(s) x {args.iterations} iterations) ...",
        flush=True,
    )
    table = compare_methods(
        protocol, args.cost_limit, args.iterations, args.seeds, {"delta": args.delta}
    )
    frame = table_frame(table)
    out = Path(args.out)
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


def _run_sweep(args: argparse.Namespace, protocol, limits, ratios) -> int:
    from pathlib import Path

    from jaxrec.agents.fcpo_experiment import plot_tradeoff, tradeoff_sweep
    from jaxrec.io import atomic_path, save_figure, write_json

    print(
        f"trade-off sweep: CPO at limits {limits} x {args.seeds} seed(s) (one program), static "
        f"re-ranker at head ratios {ratios} ...",
        flush=True,
    )
    frame = tradeoff_sweep(
        protocol,
        limits,
        ratios,
        args.iterations,
        args.seeds,
        k=args.sweep_k,
        config_overrides={"delta": args.delta},
    )
    out = Path(args.out)
    with atomic_path(out / "tradeoff.csv") as tmp:
        frame.to_csv(tmp, index=False)
    write_json(
        out / "tradeoff.json",
        {
            "data": args.data,
            "k": args.sweep_k,
            "limits": limits,
            "head_ratios": ratios,
            "iterations": args.iterations,
            "seeds": args.seeds,
            "rows": frame.to_dict(orient="records"),
        },
    )
    save_figure(out / "tradeoff.png", plot_tradeoff(frame, args.sweep_k))
    summary = frame.groupby(["method", "setting"])[["ndcg", "gini", "pop_rate"]].mean()
    print(summary.to_string(float_format=lambda v: f"{v:.4f}"))
    print(f"wrote {out}/tradeoff.csv, tradeoff.json, tradeoff.png")
    return 0


def _run_evaluate(args: argparse.Namespace) -> int:
    from pathlib import Path

    from jaxrec.agents.checkpoint import load_agent
    from jaxrec.agents.fcpo_experiment import policy_metrics, summarise
    from jaxrec.errors import ConfigError
    from jaxrec.io import write_json

    if not args.agent:
        raise ConfigError("agent", "evaluate needs --agent DIR (a folder written by cpo/ppo-lag)")
    policy, config, metadata = load_agent(args.agent)
    metrics = policy_metrics(policy, config, _protocol(args), batch_dims=1)
    results = {
        "agent": str(Path(args.agent).absolute()),
        "algorithm": config.algorithm,
        "data": args.data,
        "metadata": metadata,
        "metrics": summarise(metrics),
    }
    write_json(Path(args.out) / "results.json", results)
    m = results["metrics"]
    print(
        f"reloaded {config.algorithm} agent: test @10 ndcg {m['ndcg@10']['mean']:.4f}, gini "
        f"{m['gini@10']['mean']:.4f}, pop_rate {m['pop_rate@10']['mean']:.4f}; wrote "
        f"{args.out}/results.json"
    )
    return 0


def _run_platform(args: argparse.Namespace) -> int:
    from pathlib import Path

    from jaxrec.agents.platform_cpo import (
        PlatformExperiment,
        plot_long_run,
        run_platform_experiment,
        summarise_long_run,
    )
    from jaxrec.io import save_figure, write_json, write_parquet

    experiment = PlatformExperiment(
        n_users=args.platform_users,
        n_items=args.platform_items,
        iterations=args.iterations,
        seeds=args.seeds,
        head_per_slate=args.head_per_slate,
        test_steps=args.platform_steps,
        train_steps=args.platform_train_steps,
        relabel_every=args.relabel_every,
        popularity_beta=args.matthew,
        world_seed=args.data_seed,
    )
    print(f"dynamic platform: {experiment}", flush=True)
    frame, log = run_platform_experiment(experiment)
    summary = summarise_long_run(frame, experiment)
    out = Path(args.out)
    write_parquet(out / "long_run.parquet", frame)
    write_json(
        out / "long_run.json",
        {
            "experiment": experiment.__dict__,
            "final_train_cost": log["episode_cost"][:, :, -10:].mean(axis=(1, 2)).tolist(),
            "final_train_return": log["episode_return"][:, :, -10:].mean(axis=(1, 2)).tolist(),
            "summary": summary.to_dict(orient="records"),
        },
    )
    save_figure(out / "long_run.png", plot_long_run(frame, experiment))
    print(summary.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    print(f"wrote {out}/long_run.parquet, long_run.json, long_run.png")
    return 0


def _first(policy):
    """The seed batch of the only limit of a :func:`train_grid` run: leaves [S, ...]."""
    import jax

    return jax.tree.map(lambda x: x[0], policy)


def _plot(frame, cost_limit: float):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    for column, ax, title in zip(
        ("episode_return", "episode_cost"),
        axes,
        ("return per episode", "cost per episode"),
        strict=True,
    ):
        grouped = frame.groupby("iteration")[column]
        mean, std = grouped.mean(), grouped.std().fillna(0.0)
        ax.plot(mean.index, mean.values)
        ax.fill_between(mean.index, mean - std, mean + std, alpha=0.25)
        ax.set_title(title)
        ax.set_xlabel("iteration")
    if cost_limit != float("inf"):
        axes[1].axhline(cost_limit, color="red", linestyle="--", label="cost limit")
        axes[1].legend()
    fig.tight_layout()
    return fig
