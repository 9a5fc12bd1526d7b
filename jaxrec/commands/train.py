"""``jaxrec train cpo|ppo-lag``: train a constrained recommender on the FCPO protocol, all seeds as one
compiled program, and write test metrics, a training log and learning curves."""

from __future__ import annotations

import argparse

DATA_CHOICES = ("synthetic", "ml-100k", "ml-1m")
CUTOFFS = (5, 10, 20)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train CPO (FCPO) or PPO-Lagrangian on the FCPO protocol (seeds as one program)",
        description=(
            "Split ratings chronologically (FCPO protocol), fit MF item embeddings on the training "
            "part, label the popular group from training counts, train S seeds at once under a cost "
            "limit on popular-item recommendations per episode, then evaluate the greedy policy on "
            "the held-out histories. Writes DIR/results.json (metrics at K = 5, 10, 20, mean and "
            "std over seeds), DIR/train_log.parquet and DIR/learning_curves.png."
        ),
    )
    parser.add_argument("algorithm", choices=("cpo", "ppo-lag"))
    parser.add_argument("--data", choices=DATA_CHOICES, default="synthetic")
    parser.add_argument("--data-dir", help="folder with the MovieLens files (ml-100k, ml-1m)")
    parser.add_argument(
        "--cost-limit",
        type=float,
        default=float("inf"),
        help="allowed popular-group recommendations per training episode (default: unconstrained)",
    )
    parser.add_argument("--iterations", type=int, default=100, help="policy updates (default 100)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds trained at once (default 3)")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--train-steps", type=int, default=10, help="training episode length")
    parser.add_argument("--test-steps", type=int, default=20, help="test episode length (>= 20)")
    parser.add_argument("--dim", type=int, default=32, help="MF item-embedding dimension")
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
    parser.set_defaults(func=run)


def _load_ratings(args: argparse.Namespace):
    import jax

    from jaxrec.data.movielens import load_ml1m, load_ml100k
    from jaxrec.envs.fcpo import planted_ratings
    from jaxrec.errors import ConfigError

    if args.data == "synthetic":
        ratings = planted_ratings(
            jax.random.key(args.data_seed),
            args.synthetic_users,
            args.synthetic_items,
            per_user=args.synthetic_per_user,
        )
        return ratings, args.synthetic_items
    if not args.data_dir:
        raise ConfigError(
            "data_dir", f"--data {args.data} needs --data-dir with the MovieLens files"
        )
    data = (load_ml100k if args.data == "ml-100k" else load_ml1m)(args.data_dir)
    return data.ratings, data.n_items


def run(args: argparse.Namespace) -> int:
    import time
    from pathlib import Path

    import jax
    import jax.numpy as jnp
    import numpy as np
    import pandas as pd
    from tqdm.auto import tqdm

    from jaxrec.agents.train import (
        METRIC_NAMES,
        TrainConfig,
        evaluate,
        make_train,
        protocol_metrics,
    )
    from jaxrec.envs.fcpo import FCPOEnv, fcpo_setup
    from jaxrec.errors import ConfigError
    from jaxrec.io import save_figure, write_json, write_parquet
    from jaxrec.models.mf import MFConfig

    if args.seeds < 1:
        raise ConfigError("seeds", f"must be >= 1, got {args.seeds}")
    if args.test_steps < max(CUTOFFS):
        raise ConfigError("test_steps", f"must be >= {max(CUTOFFS)} to report @{max(CUTOFFS)}")
    config = TrainConfig(
        algorithm=args.algorithm, iterations=args.iterations, cost_limit=args.cost_limit
    )
    ratings, n_items = _load_ratings(args)
    setup = fcpo_setup(
        jax.random.key(args.data_seed),
        ratings,
        n_items=n_items,
        mf_config=MFConfig(dim=args.dim, epochs=args.mf_epochs),
    )
    n_users = len(setup.split.users)
    train_env = FCPOEnv(n_users, setup.split.n_items, args.dim, episode_len=args.train_steps)
    test_env = FCPOEnv(n_users, setup.split.n_items, args.dim, episode_len=args.test_steps)
    train_params, test_params = setup.params("train"), setup.params("test")
    print(
        f"{args.data}: {n_users} users, {setup.split.n_items} items, popular group "
        f"{int(setup.is_head.sum())} items (pivot {setup.pivot}); training {args.seeds} seed(s) x "
        f"{args.iterations} iterations of {args.algorithm} (limit {args.cost_limit}) ...",
        flush=True,
    )
    started = time.perf_counter()
    train = make_train(config, train_env, train_params)
    # Equal chunks of the iteration loop compile once and let a progress bar advance per chunk.
    chunk = max(d for d in range(1, min(10, args.iterations) + 1) if args.iterations % d == 0)
    iterate = jax.jit(
        jax.vmap(lambda r, limit, p: train.iterate(r, chunk, limit, p), in_axes=(0, None, None))
    )
    runner = jax.vmap(train.init)(jax.random.split(jax.random.key(1), args.seeds))
    chunks = []
    with tqdm(total=args.iterations, desc=f"{args.algorithm} iterations", unit="it") as progress:
        for _ in range(args.iterations // chunk):
            runner, metrics_chunk = iterate(runner, config.cost_limit, train_params)
            chunks.append(jax.device_get(metrics_chunk))
            progress.update(chunk)
            progress.set_postfix(
                ret=f"{chunks[-1]['episode_return'][:, -1].mean():.3f}",
                cost=f"{chunks[-1]['episode_cost'][:, -1].mean():.2f}",
            )
    log = {name: np.concatenate([c[name] for c in chunks], axis=1) for name in METRIC_NAMES}
    seconds = time.perf_counter() - started

    def test_metrics(policy, params):
        items, hits, n_relevant = evaluate(policy, config, test_env, params)
        return protocol_metrics(items, hits, n_relevant, params.is_head, CUTOFFS)

    metrics = jax.jit(jax.vmap(test_metrics, in_axes=(0, None)))(runner.policy, test_params)
    results = {
        "algorithm": args.algorithm,
        "data": args.data,
        "cost_limit": args.cost_limit,
        "iterations": args.iterations,
        "seeds": args.seeds,
        "train_seconds": seconds,
        "final_train_cost": float(np.asarray(log["episode_cost"])[:, -10:].mean()),
        "final_train_return": float(np.asarray(log["episode_return"])[:, -10:].mean()),
        "metrics": {
            name: {"mean": float(jnp.mean(v)), "std": float(jnp.std(v))}
            for name, v in metrics.items()
        },
    }
    frame = pd.DataFrame(
        {
            "seed": np.repeat(np.arange(args.seeds), args.iterations),
            "iteration": np.tile(np.arange(args.iterations), args.seeds),
            **{name: np.asarray(log[name]).ravel() for name in METRIC_NAMES},
        }
    )
    out = Path(args.out)
    write_json(out / "results.json", results)
    write_parquet(out / "train_log.parquet", frame)
    save_figure(out / "learning_curves.png", _plot(frame, args.cost_limit))
    m = results["metrics"]
    print(
        f"trained in {seconds:.1f}s; test @10: ndcg {m['ndcg@10']['mean']:.4f}, recall "
        f"{m['recall@10']['mean']:.4f}, gini {m['gini@10']['mean']:.4f}, pop_rate "
        f"{m['pop_rate@10']['mean']:.4f}; wrote {out}/results.json, train_log.parquet, "
        "learning_curves.png"
    )
    return 0


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
