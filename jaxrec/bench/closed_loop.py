"""Closed-loop throughput (learned scorer retrained in the rollout, health metrics) vs the plain env."""

from __future__ import annotations

import argparse
import functools

import jax
import jax.numpy as jnp

from jaxrec.bench import device_info, time_compiled, time_interleaved


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--users", type=int, default=1024)
    parser.add_argument("--items", type=int, default=1682)
    parser.add_argument("--slate", type=int, default=10)
    parser.add_argument("--dim", type=int, default=32, help="world and scorer dimension")
    parser.add_argument("--steps", type=int, default=100, help="steps per timed rollout")
    parser.add_argument("--worlds", type=int, default=1)
    parser.add_argument("--retrain-every", type=int, default=50)
    parser.add_argument("--updates", type=int, default=50, help="optax steps per retrain")
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--scorer", choices=("mf", "fm", "aafm"), default="mf")
    parser.add_argument("--policy", help="marketplace policy TOML for the re-ranking variant")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved timing rounds")


def run(args: argparse.Namespace) -> dict:
    from jaxrec.agents import GreedyPolicy
    from jaxrec.agents.closed_loop import init_loop_carry, make_closed_loop
    from jaxrec.agents.loop_scorer import LoopConfig
    from jaxrec.agents.marketplace import default_policy, load_policy
    from jaxrec.data import synthetic_world
    from jaxrec.envs import PlatformEnv, init_carry, make_rollout
    from jaxrec.metrics.health import make_health_metrics, user_segments

    world = synthetic_world(0, n_users=args.users, n_items=args.items, dim=args.dim)
    keys = jax.random.split(jax.random.key(0), args.worlds)
    user_steps = args.worlds * args.users * args.steps

    # the plain platform: the oracle greedy policy and the env's own step metrics
    plain_env = PlatformEnv(n_users=args.users, slate_size=args.slate)
    params = plain_env.default_params(world)
    policy = GreedyPolicy(plain_env)
    plain = jax.jit(jax.vmap(make_rollout(plain_env, policy, args.steps), in_axes=(0, None, None)))
    init = jax.jit(jax.vmap(lambda k, p: init_carry(plain_env, k, p), in_axes=(0, None)))
    plain_carry, policy_params = init(keys, params), policy.init_params()
    calls = {"plain": lambda: plain(plain_carry, params, policy_params)}
    compile_s = {"plain": time_compiled(calls["plain"], 0)[0]}

    env = PlatformEnv(n_users=args.users, slate_size=args.slate, log_steps=args.retrain_every)
    config = LoopConfig(
        scorer=args.scorer,
        retrain_every=args.retrain_every,
        updates=args.updates,
        batch_size=args.batch_size,
        dim=args.dim,
    )
    metrics_fn = make_health_metrics(env, user_segments(world))
    init_loop = jax.jit(
        jax.vmap(lambda k, p: init_loop_carry(env, k, p, config), in_axes=(0, None))
    )
    # start at step W so a rollout of 2W steps holds two retrains: the steady rate is one per W
    start = jnp.int32(args.retrain_every)
    record = {
        "benchmark": "closed_loop",
        **device_info(),
        "users": args.users,
        "items": args.items,
        "slate": args.slate,
        "dim": args.dim,
        "worlds": args.worlds,
        "steps": args.steps,
        "scorer": args.scorer,
        "retrain_every": args.retrain_every,
        "updates_per_retrain": args.updates,
        "batch_size": args.batch_size,
    }
    policy_file = load_policy(args.policy) if args.policy else default_policy()
    for label, rerank in (("closed_loop", False), ("closed_loop_rerank", True)):
        rollout = make_closed_loop(env, config, args.steps, metrics_fn, rerank=rerank)
        program = jax.jit(jax.vmap(rollout, in_axes=(0, None, None, None)))
        rerank_params = policy_file.params() if rerank else None
        calls[label] = functools.partial(
            program, init_loop(keys, params), params, rerank_params, start
        )
        compile_s[label] = time_compiled(calls[label], 0)[0]
    # the variants are timed in turn, round after round, so load from other processes hits all
    # three alike and the ratios to the plain platform stay fair on a shared machine
    seconds = time_interleaved(calls, args.repeats)
    for label in calls:
        record[f"{label}_compile_s"] = compile_s[label]
        record[f"{label}_user_steps_per_s"] = user_steps / seconds[label]
        if label != "plain":
            record[f"{label}_vs_plain"] = seconds["plain"] / seconds[label]
    return record
