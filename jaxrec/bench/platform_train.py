"""CPO training on continuing platform worlds: user-steps/s of training against the plain rollout of the same worlds."""

from __future__ import annotations

import argparse
from typing import Any

import jax

from jaxrec.agents.platform_cpo import PlatformAgentEnv
from jaxrec.agents.platform_train import WorldsAgentEnv, trajectory_bytes
from jaxrec.agents.train import make_train
from jaxrec.agents.train_config import CPOConfig
from jaxrec.bench import device_info, time_compiled, time_interleaved
from jaxrec.data.synthetic import synthetic_world
from jaxrec.envs.platform import PlatformEnv


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--worlds", type=int, default=16, help="continuing worlds per iteration")
    parser.add_argument("--users", type=int, default=256, help="users per world")
    parser.add_argument("--items", type=int, default=500, help="items per world")
    parser.add_argument("--steps", type=int, default=50, help="steps per training iteration")
    parser.add_argument("--iterations", type=int, default=2, help="CPO iterations per timed call")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument(
        "--gpu-user-episodes",
        type=int,
        default=65536,
        help="report the trajectory memory of this many parallel user-episodes too",
    )


def run(args: argparse.Namespace) -> dict[str, Any]:
    world = synthetic_world(0, n_users=args.users, n_items=args.items, n_producers=16, dim=8)
    platform = PlatformEnv(n_users=args.users, slate_size=5, history_len=5)
    params = platform.default_params(world, relabel_every=10, popularity_beta=1.0, max_steps=2**30)
    env = WorldsAgentEnv(PlatformAgentEnv(platform, 8, args.steps), args.worlds)
    config = CPOConfig(iterations=args.iterations, hidden=(32, 32), critic_batch=4096)
    train = make_train(config, env, params)
    runner = jax.jit(train.init)(jax.random.key(0), params)
    iterate = jax.jit(lambda r, p: train.iterate(r, args.iterations, args.steps * 1.0, p))
    n_steps = args.steps * args.iterations

    @jax.jit
    def rollout(world, key, params):
        """The same worlds for the same steps, slates from random actions: no learning."""

        def step(carry, key):
            obs, state = carry
            action = jax.random.normal(key, (env.n_users, env.action_dim))
            slates = env.select(action, obs, params)
            obs, state, reward, *_ = env.step(key, state, slates, params)
            return (obs, state), reward.mean()

        return jax.lax.scan(step, world, jax.random.split(key, n_steps))[1]

    compile_train = time_compiled(lambda: iterate(runner, params), repeats=0)[0]
    compile_rollout = time_compiled(lambda: rollout(runner.world, jax.random.key(1), params), 0)[0]
    best = time_interleaved(
        {
            "train": lambda: iterate(runner, params),
            "rollout": lambda: rollout(runner.world, jax.random.key(1), params),
        },
        args.repeats,
    )
    user_steps = env.n_users * n_steps
    gpu_env = WorldsAgentEnv(
        PlatformAgentEnv(
            PlatformEnv(n_users=args.gpu_user_episodes // args.worlds, slate_size=5, history_len=5),
            8,
            args.steps,
        ),
        args.worlds,
    )
    return {
        "benchmark": "platform_train",
        "sizes": {
            "worlds": args.worlds,
            "users_per_world": args.users,
            "items": args.items,
            "steps_per_iteration": args.steps,
            "iterations_per_call": args.iterations,
        },
        "compile_s": compile_train,
        "rollout_compile_s": compile_rollout,
        "train_user_steps_per_s": user_steps / best["train"],
        "rollout_user_steps_per_s": user_steps / best["rollout"],
        "train_over_rollout": best["train"] / best["rollout"],
        "trajectory_mb": trajectory_bytes(env) / 2**20,
        "gpu_user_episodes": gpu_env.n_users,
        "gpu_trajectory_mb": trajectory_bytes(gpu_env) / 2**20,
        **device_info(),
    }
