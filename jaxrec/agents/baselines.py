"""Static baseline policies: random, most-popular, relevance-greedy and a static fairness re-ranker.

A policy is an object with ``init_params()`` (a pytree of traced hyperparameters, so a sweep can
``vmap`` over them) and ``act(key, obs, state, env_params, policy_params) -> i32[U, K]``. Only the
oracle baselines read ``state`` (the true preferences); learned agents use ``obs`` alone.
"""

from __future__ import annotations

import inspect
from typing import Any, Protocol

import flax.struct
import jax
import jax.numpy as jnp

from jaxrec import tomlconfig
from jaxrec.envs.platform import EnvParams, EnvState, Observation, PlatformEnv
from jaxrec.errors import ConfigError
from jaxrec.ops.selection import select_slate


class Policy(Protocol):
    env: PlatformEnv

    def init_params(self) -> Any: ...

    def act(
        self,
        key: jax.Array,
        obs: Observation,
        state: EnvState,
        env_params: EnvParams,
        policy_params: Any,
    ) -> jax.Array: ...


@flax.struct.dataclass
class NoParams:
    """Hyperparameters of a policy that has none."""


class RandomPolicy:
    """Uniformly random allowed items: the no-feedback reference point for exposure metrics."""

    def __init__(self, env: PlatformEnv):
        self.env = env

    def init_params(self) -> NoParams:
        return NoParams()

    def act(self, key, obs, state, env_params, policy_params):
        scores = jax.random.uniform(key, (self.env.n_users, obs.item_alive.shape[0]))
        return select_slate(scores, self.env.action_mask(obs), self.env.slate_size)


class MostPopularPolicy:
    """The K allowed items with the highest current popularity (decayed click count).

    The same ranking for everyone, so every click it earns feeds the items it already favours.
    """

    def __init__(self, env: PlatformEnv):
        self.env = env

    def init_params(self) -> NoParams:
        return NoParams()

    def act(self, key, obs, state, env_params, policy_params):
        scores = jnp.broadcast_to(obs.item_popularity, (self.env.n_users, obs.item_alive.shape[0]))
        return select_slate(scores, self.env.action_mask(obs), self.env.slate_size)


class GreedyPolicy:
    """Oracle: the K allowed items with the highest true click logit for each user.

    With examination decreasing in position this maximises expected clicks of the step (the
    rearrangement inequality), so it is the upper bound on clicks a scorer could reach.
    """

    def __init__(self, env: PlatformEnv):
        self.env = env

    def init_params(self) -> NoParams:
        return NoParams()

    def act(self, key, obs, state, env_params, policy_params):
        scores = self.env.click_logits(state, env_params)
        return select_slate(scores, self.env.action_mask(obs), self.env.slate_size)


@flax.struct.dataclass
class StaticRerankParams:
    head_ratio: jax.Array  # f32[] share of slate positions given to head-group items


class StaticRerankPolicy:
    """Static group-exposure re-ranking of the oracle scores ("static fairness").

    Each slate takes the best ``round(head_ratio * K)`` head-group items and the best remaining
    long-tail items, then orders the union by score. The ratio is fixed once; nothing adapts as
    popularity and group labels move, which is what long-horizon fairness agents are compared to.
    When one group has too few allowed items, the other fills its positions.
    """

    def __init__(self, env: PlatformEnv, head_ratio: float = 0.3):
        self.env = env
        self.head_ratio = tomlconfig.number(head_ratio, "policy.head_ratio", low=0.0, high=1.0)

    def init_params(self) -> StaticRerankParams:
        return StaticRerankParams(head_ratio=jnp.asarray(self.head_ratio, jnp.float32))

    def act(self, key, obs, state, env_params, policy_params):
        k = self.env.slate_size
        scores = self.env.click_logits(state, env_params)
        mask = self.env.action_mask(obs)
        head = obs.item_is_head[None, :]
        n_head = jnp.round(policy_params.head_ratio * k).astype(jnp.int32)
        head_scores, head_items = jax.lax.top_k(jnp.where(mask & head, scores, -jnp.inf), k)
        tail_scores, tail_items = jax.lax.top_k(jnp.where(mask & ~head, scores, -jnp.inf), k)
        # A group short of allowed items lends its positions to the other group.
        n_head_avail = jnp.isfinite(head_scores).sum(axis=1, keepdims=True)
        n_tail_avail = jnp.isfinite(tail_scores).sum(axis=1, keepdims=True)
        take_head = jnp.clip(n_head, k - n_tail_avail, n_head_avail)
        position = jnp.arange(k)[None, :]
        quota = jnp.concatenate([position < take_head, position < k - take_head], axis=1)
        candidates = jnp.concatenate([head_items, tail_items], axis=1)
        candidate_scores = jnp.concatenate([head_scores, tail_scores], axis=1)
        ranked = jnp.where(quota, candidate_scores, -jnp.inf)
        order = jax.lax.top_k(ranked, k)[1]
        return jnp.take_along_axis(candidates, order, axis=1).astype(jnp.int32)


POLICIES = {
    "random": RandomPolicy,
    "most_popular": MostPopularPolicy,
    "greedy": GreedyPolicy,
    "static_rerank": StaticRerankPolicy,
}


def make_policy(name: str, env: PlatformEnv, **kwargs) -> Policy:
    """Build a baseline policy by name: random, most_popular, greedy or static_rerank."""
    if name not in POLICIES:
        raise ConfigError("policy", f"unknown policy {name!r}; expected one of {sorted(POLICIES)}")
    options = [p for p in inspect.signature(POLICIES[name]).parameters if p != "env"]
    for key in kwargs:
        if key not in options:
            raise ConfigError(
                f"policy.{key}",
                f"policy {name!r} has no option {key!r}; it has {options or 'none'}",
            )
    return POLICIES[name](env, **kwargs)
