"""Episode statistics match a hand count; auto-reset restarts the world at its time limit."""

from __future__ import annotations

import jax
import numpy as np

from jaxrec.agents import RandomPolicy
from jaxrec.data import synthetic_world
from jaxrec.envs.platform import PlatformEnv
from jaxrec.envs.wrappers import AutoReset, EpisodeStats


def test_episode_stats_and_auto_reset_match_a_hand_count():
    world = synthetic_world(2, n_users=8, n_items=30, n_producers=3, dim=4)
    env = PlatformEnv(n_users=8, slate_size=3)
    params = env.default_params(
        world, max_steps=4, temper_init=1.0, temper_step_cost=1.5, user_arrival_prob=1.0
    )
    wrapped = EpisodeStats(AutoReset(env))
    policy = RandomPolicy(env)
    step = jax.jit(wrapped.step)
    obs, state = wrapped.reset(jax.random.key(0), params)
    running = np.zeros(8)
    finished = []
    for t in range(10):
        slate = policy.act(jax.random.key(100 + t), obs, state.env_state, params, None)
        obs, state, reward, _, terminated, truncated, _ = step(
            jax.random.key(t), state, slate, params
        )
        running += np.asarray(reward)
        done = np.asarray(terminated | truncated)
        for user in np.where(done)[0]:
            finished.append((user, running[user]))
            np.testing.assert_allclose(state.returned_return[user], running[user])
            running[user] = 0.0
        np.testing.assert_allclose(state.episode_return, running)
        # the world restarts at its time limit: the step counter never exceeds it
        assert int(state.env_state.step) == (t + 1) % 4
    assert any(u for u, _ in finished)  # churn and time limits did end episodes
