"""One full CPO iteration (rollout, GAE, critic fits, CG, line search) at FCPO ML-100K sizes: jaxrec's and the public code's configuration."""

from __future__ import annotations

import argparse
import dataclasses
from functools import partial
from typing import Any

import jax

from jaxrec.agents.train import make_train
from jaxrec.agents.train_config import CPOConfig
from jaxrec.bench import device_info, time_compiled, time_interleaved
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
    parser.add_argument(
        "--public-critic-steps",
        type=int,
        default=25,
        help="full-batch critic steps per iteration in the public configuration",
    )


def configurations(args: argparse.Namespace) -> dict[str, CPOConfig]:
    """jaxrec's defaults, and the public FCPO code's work per iteration in jaxrec's terms.

    The public code runs a [256, 64] network, takes Fisher products over every state and fits
    its critics on every state of the iteration (L-BFGS); here that is ``hidden=(256, 64)``,
    ``fisher_stride=1`` and critic steps whose batch is all ``users * horizon`` states.
    """
    default = CPOConfig(algorithm="cpo", iterations=args.iterations, cost_limit=args.cost_limit)
    public = dataclasses.replace(
        default,
        hidden=(256, 64),
        fisher_stride=1,
        critic_batch=args.users * args.horizon,
        critic_steps=args.public_critic_steps,
    )
    return {"jaxrec": default, "public FCPO": public}


def run(args: argparse.Namespace) -> dict[str, Any]:
    env = FCPOEnv(args.users, args.items, args.dim, episode_len=args.horizon)
    params = tiny_fcpo_params(
        jax.random.key(0), args.users, args.items, args.dim, n_targets=args.targets
    )
    record: dict[str, Any] = {
        "benchmark": "cpo",
        "sizes": {
            "users": args.users,
            "items": args.items,
            "dim": args.dim,
            "horizon": args.horizon,
            "iterations_per_call": args.iterations,
        },
        "by_seeds": [],
        **device_info(),
    }
    calls, rows = {}, {}
    for name, config in configurations(args).items():
        train = make_train(config, env, params)
        for n_seeds in (int(s) for s in args.seeds.split(",")):
            keys = jax.random.split(jax.random.key(1), n_seeds)
            batched = jax.jit(jax.vmap(train, in_axes=(0, None, None)))
            call = partial(batched, keys, args.cost_limit, params)
            first, _ = time_compiled(call, repeats=0)
            calls[name, n_seeds] = call
            rows[name, n_seeds] = {
                "config": name,
                "seeds": n_seeds,
                "hidden": "x".join(map(str, config.hidden)),
                "fisher_stride": config.fisher_stride,
                "critic_batch": min(config.critic_batch, args.users * args.horizon),
                "critic_steps": config.critic_steps,
                "cg_iterations": config.cg_iterations,
                "max_backtracks": config.max_backtracks,
                "compile_and_first_call_s": first,
            }
    # Interleaved rounds, so that load from other processes hits both configurations alike.
    for (name, n_seeds), best in time_interleaved(calls, args.repeats).items():
        env_steps = n_seeds * args.users * args.horizon * args.iterations
        rows[name, n_seeds].update(
            seconds_per_iteration=best / args.iterations,
            env_steps_per_s=env_steps / best,
            iterations_per_s=n_seeds * args.iterations / best,
        )
    record["by_seeds"] = list(rows.values())
    first_seeds = int(args.seeds.split(",")[0])
    record["seconds_per_iteration"] = rows["jaxrec", first_seeds]["seconds_per_iteration"]
    record["public_config_seconds_per_iteration"] = rows["public FCPO", first_seeds][
        "seconds_per_iteration"
    ]
    return record
