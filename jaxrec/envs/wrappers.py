"""Wrappers that keep their bookkeeping inside the state (gymnax-style), so they jit and vmap."""

from __future__ import annotations

import flax.struct
import jax
import jax.numpy as jnp

from jaxrec.envs.platform import PlatformEnv
from jaxrec.envs.platform_types import EnvParams, EnvState


class Wrapper:
    """Forwards every attribute it does not define (shapes, masks, logits) to the wrapped env."""

    def __init__(self, env: PlatformEnv):
        self.env = env

    def __getattr__(self, name: str):
        return getattr(self.env, name)


@flax.struct.dataclass
class EpisodeStatsState:
    """Platform state plus per-user episode statistics. Shapes: U user slots."""

    env_state: EnvState
    episode_return: jax.Array  # f32[U] clicks so far in each user's current episode
    episode_cost: jax.Array  # f32[U]
    episode_length: jax.Array  # i32[U]
    returned_return: jax.Array  # f32[U] return of each slot's last finished episode
    returned_cost: jax.Array  # f32[U]
    returned_length: jax.Array  # i32[U]


class EpisodeStats(Wrapper):
    """Track each user slot's episode return, cost and length; finished episodes are kept.

    A user's episode ends when the user churns (terminated) or the world's time limit is reached
    (truncated); the finished totals stay in ``returned_*`` until that slot's next episode ends.
    """

    def reset(self, key: jax.Array, params: EnvParams):
        obs, state = self.env.reset(key, params)
        zeros = jnp.zeros(self.env.n_users, jnp.float32)
        steps = jnp.zeros(self.env.n_users, jnp.int32)
        return obs, EpisodeStatsState(state, zeros, zeros, steps, zeros, zeros, steps)

    def step(self, key: jax.Array, state: EpisodeStatsState, action: jax.Array, params: EnvParams):
        obs, env_state, reward, cost, terminated, truncated, info = self.env.step(
            key, state.env_state, action, params
        )
        served = info["served"]
        episode_return = state.episode_return + reward
        episode_cost = state.episode_cost + cost
        episode_length = state.episode_length + served
        done = terminated | truncated
        new_state = EpisodeStatsState(
            env_state=env_state,
            episode_return=jnp.where(done, 0.0, episode_return),
            episode_cost=jnp.where(done, 0.0, episode_cost),
            episode_length=jnp.where(done, 0, episode_length),
            returned_return=jnp.where(done, episode_return, state.returned_return),
            returned_cost=jnp.where(done, episode_cost, state.returned_cost),
            returned_length=jnp.where(done, episode_length, state.returned_length),
        )
        return obs, new_state, reward, cost, terminated, truncated, info


class AutoReset(Wrapper):
    """Reset the whole world when its time limit is reached, so rollouts can run past it.

    Users who churn are replaced inside the world by the platform itself; this wrapper handles the
    world-level time limit. The returned observation after a reset is the new world's first one.
    """

    def reset(self, key: jax.Array, params: EnvParams):
        return self.env.reset(key, params)

    def step(self, key: jax.Array, state: EnvState, action: jax.Array, params: EnvParams):
        step_key, reset_key = jax.random.split(key)
        obs, next_state, reward, cost, terminated, truncated, info = self.env.step(
            step_key, state, action, params
        )
        reset_obs, reset_state = self.env.reset(reset_key, params)
        world_done = next_state.step >= params.max_steps
        next_state = jax.tree.map(
            lambda fresh, old: jnp.where(world_done, fresh, old), reset_state, next_state
        )
        obs = jax.tree.map(lambda fresh, old: jnp.where(world_done, fresh, old), reset_obs, obs)
        return obs, next_state, reward, cost, terminated, truncated, info
