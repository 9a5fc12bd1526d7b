"""CPO on the dynamic platform (:class:`jaxrec.envs.platform.PlatformEnv`): the long-run experiment
FCPO exists for (Ge et al. 2021, §5.4), with popularity drift, the Matthew effect and popular-group
labels recomputed every ``relabel_every`` steps.

:class:`PlatformAgentEnv` gives the platform the interface :func:`jaxrec.agents.train.make_train`
trains on, so the same CPO / PPO-Lagrangian program runs on it unchanged:

- observation ``history`` f32[U, H, d]: the public item vectors of each user's last ``H`` clicks
  (zeros for empty history slots);
- public item features f32[M, d + 1]: the item's content vector (the platform's current
  ``item_factors``, the vectors arriving items are drawn with; the users' taste vectors stay hidden)
  and its *current* head-group label;
- action: a Gaussian vector ``w`` in that feature space; item scores ``features @ w`` become a slate
  of ``K`` allowed items by :func:`jaxrec.ops.selection.select_slate`. The label feature lets one
  weight express "avoid whatever is popular now", which keeps meaning when labels move;
- cost: the platform's ``cost_head_count`` (head items in the slate, per user per step); the limit
  ``d`` is per user per training episode.

A training episode is ``episode_len`` steps from a fresh :meth:`PlatformEnv.reset` (new users from
the pool, new drift draws) after ``burn_in`` steps of random slates.
:class:`jaxrec.agents.platform_train.WorldsAgentEnv` instead trains on many continuing worlds, and
:func:`jaxrec.agents.platform_train.serve_long_run` serves one world for hundreds of steps.
"""

from __future__ import annotations

from collections.abc import Callable

import flax.struct
import jax
import jax.numpy as jnp

from jaxrec.agents.train_config import CPOConfig
from jaxrec.envs.platform import PlatformEnv
from jaxrec.envs.platform_types import EnvParams, EnvState, Observation
from jaxrec.ops.selection import select_slate


@flax.struct.dataclass
class AgentObservation:
    """``history`` f32[U, H, d] clicked-item vectors, ``features`` f32[M, d + 1] public item
    features, ``mask`` bool[U, M] allowed items, ``platform`` the platform's own observation."""

    history: jax.Array
    features: jax.Array
    mask: jax.Array
    platform: Observation


def item_features(state: EnvState) -> jax.Array:
    """Public item features f32[M, d + 1]: content vector and current head label."""
    return jnp.concatenate(
        [state.item_factors, state.item_is_head[:, None].astype(jnp.float32)], axis=1
    )


class PlatformAgentEnv:
    """:class:`PlatformEnv` seen through the agent's interface (see the module docstring).

    Args:
      platform: the platform (its ``n_users``, ``slate_size``, ``history_len`` fix the shapes).
      dim: the world's latent dimension ``d``.
      episode_len: steps per training episode.
      burn_in: steps of random slates :meth:`reset` runs before an episode starts.
    """

    def __init__(self, platform: PlatformEnv, dim: int, episode_len: int, burn_in: int = 0):
        self.platform = platform
        self.n_users = platform.n_users
        self.history_len = platform.history_len
        self.dim = dim
        self.action_dim = dim + 1
        self.episode_len = episode_len
        self.burn_in = burn_in

    def observation(self, obs: Observation, state: EnvState) -> AgentObservation:
        features = item_features(state)
        clicked = jnp.where(
            (obs.user_history >= 0)[..., None], state.item_factors[obs.user_history], 0.0
        )
        return AgentObservation(
            history=clicked,
            features=features,
            mask=self.platform.action_mask(obs),
            platform=obs,
        )

    def reset(self, key: jax.Array, params: EnvParams) -> tuple[AgentObservation, EnvState]:
        """A fresh world run ``burn_in`` steps under uniformly random slates, so an episode starts
        with click histories filled and popular-group labels already recomputed from clicks
        (a fresh world's first labels come from its initial popularity, a regime that never
        returns)."""
        key, burn_key = jax.random.split(key)
        obs, state = self.platform.reset(key, params)

        def random_step(carry, step_key):
            obs, state = carry
            score_key, step_key = jax.random.split(step_key)
            scores = jax.random.uniform(score_key, (self.n_users, state.item_alive.shape[0]))
            slates = select_slate(scores, self.platform.action_mask(obs), self.platform.slate_size)
            obs, state, *_ = self.platform.step(step_key, state, slates, params)
            return (obs, state), None

        if self.burn_in:
            (obs, state), _ = jax.lax.scan(
                random_step, (obs, state), jax.random.split(burn_key, self.burn_in)
            )
        return self.observation(obs, state), state

    def select(self, action: jax.Array, obs: AgentObservation, params: EnvParams) -> jax.Array:
        """Slates i32[U, K] of the best allowed items by ``features @ w``."""
        return select_slate(action @ obs.features.T, obs.mask, self.platform.slate_size)

    def step(self, key: jax.Array, state: EnvState, slates: jax.Array, params: EnvParams):
        obs, state, reward, cost, terminated, truncated, info = self.platform.step(
            key, state, slates, params
        )
        return self.observation(obs, state), state, reward, cost, terminated, truncated, info


def policy_scores(
    policy, config: CPOConfig, env: PlatformAgentEnv, sample: bool = True
) -> Callable[[jax.Array, AgentObservation], jax.Array]:
    """``scores(key, obs) -> f32[U, M]``: item scores of the trained policy's action, sampled (the
    stochastic policy the cost constraint was enforced on) or its mean (``sample=False``)."""
    net = config.policy_network(env.action_dim)

    def scores(key: jax.Array, obs: AgentObservation) -> jax.Array:
        mean, log_std = net.apply(policy, obs.history)
        noise = jax.random.normal(key, mean.shape) if sample else 0.0
        return (mean + jnp.exp(log_std) * noise) @ obs.features.T

    return scores
