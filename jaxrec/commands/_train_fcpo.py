"""The FCPO-protocol modes of ``jaxrec train`` (cpo, ppo-lag, compare, sweep, evaluate): check the
options, build the protocol from the data options, train, score and write the results. The
parsers are in :mod:`jaxrec.commands.train`."""

from __future__ import annotations

import argparse

from jaxrec.commands._options import at_least, data_dir
from jaxrec.commands._outputs import finish_out

CUTOFFS = (5, 10, 20)  # equal to jaxrec.experiments.fcpo.CUTOFFS (kept import-free)


def load_ratings(args: argparse.Namespace):
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


def build_protocol(args: argparse.Namespace, train_steps: int):
    """The FCPO protocol of the data options; ``train_steps`` is the training episode length."""
    from jaxrec.experiments.fcpo import Protocol

    setup = protocol_setup(args)
    return Protocol.from_setup(setup, train_steps, args.test_steps, args.exclude_seen)


def protocol_setup(args: argparse.Namespace):
    """The split, popular group and MF embeddings of the data options."""
    import jax

    from jaxrec.envs.fcpo import fcpo_setup
    from jaxrec.models.mf import MFConfig

    ratings, n_items = load_ratings(args)
    if args.data not in _MOVIELENS_SHAPES and args.data != "synthetic":
        check_size(args, int(ratings.user.max()) + 1, n_items)
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


def trained_protocol(args: argparse.Namespace):
    """The protocol with ``--train-steps`` training episodes."""
    return build_protocol(args, args.train_steps)


# users x items of the MovieLens files (the synthetic log's come from the options)
_MOVIELENS_SHAPES = {"ml-100k": (943, 1682), "ml-1m": (6040, 3706)}


def validate(args: argparse.Namespace) -> None:
    """Check the options of every mode, ``--out`` and the memory estimate; load and write nothing."""
    from pathlib import Path

    from jaxrec.commands._outputs import check_out
    from jaxrec.errors import ConfigError

    check_out(args.out, f"train {args.algorithm}", overwrite=args.overwrite)
    if "test_steps" in args:
        at_least(args.test_steps, "test_steps", max(CUTOFFS))
    if args.data != "synthetic":
        data_dir(args)
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
    if args.data == "synthetic":
        check_size(args, args.synthetic_users, args.synthetic_items)
    elif args.data in _MOVIELENS_SHAPES:
        check_size(args, *_MOVIELENS_SHAPES[args.data])
    # other MovieLens releases differ in size: checked once the ratings are read (protocol_setup)


def check_size(args: argparse.Namespace, users: int, items: int) -> None:
    """Refuse training whose agents (seeds x limits, side by side) cannot fit in memory."""
    from jaxrec.commands._sizes import check_fits, training_bytes

    if args.algorithm == "evaluate":
        return
    batch = args.seeds * (
        len(args.limits) if args.algorithm == "sweep" else 3 if args.algorithm == "compare" else 1
    )
    check_fits(
        training_bytes(n_users=users, n_items=items, steps=args.train_steps, batch=batch),
        f"{batch} agents on {users} users x {items} items",
        allow_large=args.allow_large,
    )


def algorithm_gains(args: argparse.Namespace) -> dict[str, float]:
    """The constraint gains the mode shows, as ``CPOConfig`` fields: CPO's ``cost_margin_lr``
    where the mode trains CPO and PPO-Lagrangian's ``multiplier_lr`` where it trains
    PPO-Lagrangian (the parser adds each option only there)."""
    gains = ("cost_margin_lr", "multiplier_lr")
    return {name: getattr(args, name) for name in gains if hasattr(args, name)}


def run_train(args: argparse.Namespace) -> int:
    import time

    from jaxrec.agents.checkpoint import save_agent
    from jaxrec.agents.train_config import CPOConfig
    from jaxrec.experiments.fcpo import (
        plot_learning_curves,
        policy_metrics,
        summarise,
        train_grid,
        train_log_frame,
    )
    from jaxrec.io import save_figure, write_json, write_parquet

    validate(args)
    config = CPOConfig(
        algorithm=args.algorithm,
        iterations=args.iterations,
        cost_limit=args.cost_limit,
        delta=args.delta,
        **algorithm_gains(args),
    )
    protocol = trained_protocol(args)

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
        **algorithm_gains(args),
        "train_seconds": seconds,
        "final_train_cost": float(log["episode_cost"][0, :, -10:].mean()),
        "final_train_return": float(log["episode_return"][0, :, -10:].mean()),
        "metrics": summarise({name: v[0] for name, v in metrics.items()}),
    }
    frame = train_log_frame({name: value[0] for name, value in log.items()})
    out = claim(args)
    write_json(out / "results.json", results)
    write_parquet(out / "train_log.parquet", frame)
    save_figure(out / "learning_curves.png", plot_learning_curves(frame, args.cost_limit))
    save_agent(out / "agent", first_limit(runner.policy), config, data=args.data, seeds=args.seeds)
    finish_out(out)
    m = results["metrics"]
    print(
        f"trained in {seconds:.1f}s; test @10: ndcg {m['ndcg@10']['mean']:.4f}, recall "
        f"{m['recall@10']['mean']:.4f}, gini {m['gini@10']['mean']:.4f}, pop_rate "
        f"{m['pop_rate@10']['mean']:.4f}; wrote {out}/results.json, train_log.parquet, "
        "learning_curves.png, agent/"
    )
    return 0


def run_compare(args: argparse.Namespace) -> int:
    from jaxrec.experiments.fcpo import compare_methods, table_frame
    from jaxrec.io import atomic_path, write_json

    validate(args)
    protocol = trained_protocol(args)
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
        {"delta": args.delta, **algorithm_gains(args)},
        test_action=args.test_action,
    )
    frame = table_frame(table)
    out = claim(args)
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
    finish_out(out)
    shown = [f"{m}@{k}" for k in CUTOFFS for m in ("recall", "f1", "ndcg", "gini", "pop_rate")]
    print(frame.set_index("method")[shown].to_string(float_format=lambda v: f"{v:.4f}"))
    print(f"wrote {out}/comparison.json, comparison.csv")
    return 0


def run_sweep(args: argparse.Namespace) -> int:
    import jax

    from jaxrec.experiments.fcpo import Protocol
    from jaxrec.experiments.fcpo_curves import PROTOCOLS, curves_table, plot_curves, run_curves
    from jaxrec.io import save_figure, write_json

    validate(args)
    limits, ratios = args.limits, args.head_ratios
    setup = protocol_setup(args)
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
        config_overrides={"delta": args.delta, **algorithm_gains(args)},
        test_action=args.test_action,
        n_draws=args.bootstrap,
        key=jax.random.key(args.data_seed),
    )
    out = claim(args)
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
            **algorithm_gains(args),
            "test_action": args.test_action,
            "bootstrap_draws": args.bootstrap,
            "train_steps": args.train_steps,
            "protocols": results,
        },
    )
    save_figure(out / "tradeoff.png", plot_curves(results, args.sweep_k))
    finish_out(out)
    for name, summary in results.items():
        print(f"\n{name} (@{args.sweep_k}; mean [95% CI]; ns: the gap's CI covers 0)")
        print(curves_table(summary).to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"wrote {out}/tradeoff.json, tradeoff.png")
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    from pathlib import Path

    from jaxrec.agents.checkpoint import load_agent
    from jaxrec.experiments.fcpo import policy_metrics, summarise
    from jaxrec.io import write_json

    validate(args)
    policy, config, metadata = load_agent(args.agent)
    # scoring uses only the test side of the protocol; the training episode length is unused
    metrics = policy_metrics(
        policy,
        config,
        build_protocol(args, train_steps=1),
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
    out = claim(args)
    write_json(out / "results.json", results)
    finish_out(out)
    m = results["metrics"]
    print(
        f"reloaded {config.algorithm} agent: test @10 ndcg {m['ndcg@10']['mean']:.4f}, gini "
        f"{m['gini@10']['mean']:.4f}, pop_rate {m['pop_rate@10']['mean']:.4f}; wrote "
        f"{args.out}/results.json"
    )
    return 0


def claim(args: argparse.Namespace):
    """Create ``--out`` (checked by :func:`validate` before the work) just before the results are
    written: training is one compiled program, so an interrupted run leaves no folder behind. The
    caller marks the run complete (``finish_out``) once its files are written."""
    from jaxrec.commands._outputs import claim_out

    return claim_out(args.out, f"train {args.algorithm}", overwrite=args.overwrite)


def first_limit(policy):
    """The seed batch of the only limit of a :func:`train_grid` run: leaves [S, ...]."""
    import jax

    return jax.tree.map(lambda x: x[0], policy)
