"""One full CPO iteration (rollout, GAE, critic fits, CG, line search) at FCPO ML-100K sizes, and seeds batched."""

from __future__ import annotations

import argparse
from typing import Any

import jax

from jaxrec.agents.train import CPOConfig, make_train
from jaxrec.bench import device_info, time_compiled
from jaxrec.envs.fcpo import FCPOEnv, tiny_fcpo_params


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--users", type=int, default=943, help="users rolled out in parallel")
    parser.add_argument("--items", type=int, default=1682, help="catalogue size")
    parser.add_argument("--dim", type=int, default=100, help="item-embedding / action dimension")
    parser.add_argument("--horizon", type=int, default=10, help="steps per training episode")
    parser.add_argument("--targets", type=int, default=60, help="target items per user")
    parser.add_argument("--iterations", type=int, default=10, help="CPO iterations per timed call")
    parser.add_argument("--seeds", default="1,8", help="comma-separated seed batch sizes")
    parser.add_argument("--cost-limit", type=float, default=3.0, help="binding limit per episode")
    parser.add_argument("--repeats", type=int, default=2)


def run(args: argparse.Namespace) -> dict[str, Any]:
    env = FCPOEnv(args.users, args.items, args.dim, episode_len=args.horizon)
    params = tiny_fcpo_params(
        jax.random.key(0), args.users, args.items, args.dim, n_targets=args.targets
    )
    config = CPOConfig(algorithm="cpo", iterations=args.iterations, cost_limit=args.cost_limit)
    train = make_train(config, env, params)
    record: dict[str, Any] = {
        "benchmark": "cpo",
        "sizes": {
            "users": args.users,
            "items": args.items,
            "dim": args.dim,
            "horizon": args.horizon,
            "iterations_per_call": args.iterations,
            "hidden": list(config.hidden),
            "cg_iterations": config.cg_iterations,
            "max_backtracks": config.max_backtracks,
            "critic_steps": config.critic_steps,
            "critic_batch": config.critic_batch,
            "fisher_stride": config.fisher_stride,
        },
        "by_seeds": [],
        **device_info(),
    }
    for n_seeds in (int(s) for s in args.seeds.split(",")):
        keys = jax.random.split(jax.random.key(1), n_seeds)
        batched = jax.jit(jax.vmap(train, in_axes=(0, None, None)))
        first, best = time_compiled(
            lambda keys=keys, fn=batched: fn(keys, args.cost_limit, params), repeats=args.repeats
        )
        env_steps = n_seeds * args.users * args.horizon * args.iterations
        record["by_seeds"].append(
            {
                "seeds": n_seeds,
                "compile_and_first_call_s": first,
                "seconds_per_iteration": best / args.iterations,
                "env_steps_per_s": env_steps / best,
                "iterations_per_s": n_seeds * args.iterations / best,
            }
        )
    record["seconds_per_iteration"] = record["by_seeds"][0]["seconds_per_iteration"]
    return record
