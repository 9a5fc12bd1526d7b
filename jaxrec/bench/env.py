"""Platform env throughput: compiled rollout (greedy, all dynamics on) vs the NumPy reference."""

from __future__ import annotations

import argparse
import time

import jax
import numpy as np

from jaxrec.bench import block, device_info, time_compiled


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--users", type=int, default=4096)
    parser.add_argument("--items", type=int, default=1682)
    parser.add_argument("--slate", type=int, default=10)
    parser.add_argument("--steps", type=int, default=50, help="steps per timed rollout")
    parser.add_argument("--worlds", type=int, default=1)
    parser.add_argument("--dim", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--reference-steps", type=int, default=2, help="0 skips the reference")


def run(args: argparse.Namespace) -> dict:
    from jaxrec.agents import GreedyPolicy
    from jaxrec.data import synthetic_world
    from jaxrec.envs import PlatformEnv, init_carry, make_rollout
    from jaxrec.envs.reference import reference_greedy_slates, reference_step

    world = synthetic_world(0, n_users=args.users, n_items=args.items, dim=args.dim)
    env = PlatformEnv(n_users=args.users, slate_size=args.slate)
    params = env.default_params(world)
    policy = GreedyPolicy(env)
    rollout = make_rollout(env, policy, args.steps)
    keys = jax.random.split(jax.random.key(0), args.worlds)
    # params are arguments, not closed-over constants, so XLA does not constant-fold the world
    init = jax.jit(jax.vmap(lambda k, p: init_carry(env, k, p), in_axes=(0, None)))
    run_worlds = jax.jit(jax.vmap(rollout, in_axes=(0, None, None)))
    policy_params = policy.init_params()
    carry = block(init(keys, params))
    compile_s, best = time_compiled(lambda: run_worlds(carry, params, policy_params), args.repeats)
    user_steps = args.worlds * args.users * args.steps
    record = {
        "benchmark": "env",
        **device_info(),
        "users": args.users,
        "items": args.items,
        "slate": args.slate,
        "dim": args.dim,
        "worlds": args.worlds,
        "steps": args.steps,
        "compile_s": compile_s,
        "seconds_per_rollout": best,
        "user_steps_per_s": user_steps / best,
    }
    if args.reference_steps:
        _, state = env.reset(jax.random.key(1), params)
        sample = jax.jit(env.sample_noise)
        start = time.perf_counter()
        for step in range(args.reference_steps):
            noise = sample(jax.random.key(step), params)
            slate = reference_greedy_slates(state, params, args.slate)
            fields, *_ = reference_step(state, slate, noise, params, env.history_len, 0, 0)
            state = state.replace(**{k: np.asarray(v) for k, v in fields.items()})
        reference_s = (time.perf_counter() - start) / args.reference_steps
        record["reference_user_steps_per_s"] = args.users / reference_s
        record["speedup_vs_reference"] = (
            record["user_steps_per_s"] / record["reference_user_steps_per_s"]
        )
    return record
