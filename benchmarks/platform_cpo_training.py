"""CPO alone on continuing platform worlds: training cost per served slate against the limit, then a long test of CPO and the re-rankers on its scores.

A quick check of continuing-world training at small sizes (CPO only, no PPO-Lagrangian or
unconstrained agent, so it costs one training program; the README's long-run table is
`jaxrec train platform` at the issue's sizes):

    python benchmarks/platform_cpo_training.py --data ml-100k --data-dir DIR
    python benchmarks/platform_cpo_training.py                      # synthetic world, 200 items
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import numpy as np

from jaxrec.agents.platform_cpo import policy_scores
from jaxrec.agents.platform_train import FAIRCO, FROZEN, PLAIN, QUOTA, Serving, serve_long_run
from jaxrec.experiments.fcpo import train_grid
from jaxrec.experiments.platform_long_run_setup import (
    DATA_CHOICES,
    LongRunExperiment,
    build_world,
    make_envs,
    train_config,
)

SERVED = {"cpo": PLAIN, "frozen_rerank": FROZEN, "quota_rerank": QUOTA, "fairco": FAIRCO}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # the names and meanings of `jaxrec train platform`'s options, at this check's sizes
    parser.add_argument("--data", default="synthetic", choices=DATA_CHOICES)
    parser.add_argument("--data-dir", help="folder with the MovieLens files")
    parser.add_argument("--worlds", type=int, default=2, help="continuing training worlds")
    parser.add_argument("--platform-users", type=int, default=64, help="users per world")
    parser.add_argument("--platform-items", type=int, default=200, help="item slots (synthetic)")
    parser.add_argument("--iterations", type=int, default=24, help="CPO updates")
    parser.add_argument(
        "--reset-every",
        type=int,
        default=8,
        help="fresh training worlds every this many iterations",
    )
    parser.add_argument("--seeds", type=int, default=3, help="seeds trained at once")
    parser.add_argument("--platform-steps", type=int, default=400, help="test steps")
    args = parser.parse_args()
    e = LongRunExperiment(
        data=args.data,
        data_dir=args.data_dir,
        n_users=args.platform_users,
        n_items=args.platform_items,
        n_worlds=args.worlds,
        iterations=args.iterations,
        reset_every=args.reset_every,
        seeds=args.seeds,
        test_steps=args.platform_steps,
    )
    test_env, train_env, params = make_envs(e, build_world(e))
    config = train_config(e, "cpo")
    limit = e.target * e.train_steps
    runner, log = train_grid(config, train_env, params, [limit], e.seeds, reset_every=e.reset_every)
    cost = log["episode_cost"][0] / e.train_steps  # head items per served slate, [seeds, it]
    late = cost[:, -max(1, e.iterations // 5) :].mean(axis=1)
    print(f"training head items / slate by iteration: {np.round(cost.mean(0), 3).tolist()}")
    print(f"late, per seed: {np.round(late, 3).tolist()}; mean {late.mean():.3f} (limit 1)")
    serving = Serving(
        jnp.asarray(list(SERVED.values()), jnp.int32),
        jnp.full(len(SERVED), e.target / e.slate_size),
        jnp.full(len(SERVED), e.fairco_gain),
    )
    policies = jax.tree.map(lambda x: x[0], runner.policy)
    keys = jax.random.split(jax.random.key(e.world_seed + 1000), e.seeds)

    def serve(policy, key, serving, params):
        scores = policy_scores(policy, config, test_env)
        return serve_long_run(key, test_env, params, scores, e.test_steps, serving)

    batched = jax.vmap(jax.vmap(serve, (0, 0, None, None)), (None, None, 0, None))
    series = jax.device_get(jax.jit(batched)(policies, keys, serving, params))
    half = e.test_steps // 2
    for index, name in enumerate(SERVED):
        head = np.asarray(series["head_per_slate"][index])
        print(
            f"{name:>14} (on CPO's scores): head/slate first 50 steps {head[:, :50].mean():.3f}, "
            f"last half {head[:, half:].mean():.3f} (per seed "
            f"{np.round(head[:, half:].mean(1), 3).tolist()}); clicks "
            f"{np.asarray(series['clicks'][index])[:, half:].mean():.3f}; exposure Gini "
            f"{np.asarray(series['exposure_gini'][index])[:, half:].mean():.3f}"
        )


if __name__ == "__main__":
    main()
