"""Baseline policies: random, most-popular, relevance-greedy, and the registry of every policy
:func:`make_policy` builds by name (the fairness re-rankers live in :mod:`jaxrec.agents.fairness`).

A policy is an object with ``init_params()`` (a pytree of traced hyperparameters, so a sweep can
``vmap`` over them) and ``act(key, obs, state, env_params, policy_params) -> i32[U, K]``. Only the
oracle baselines read ``state`` (the true preferences); learned agents use ``obs`` alone.
A policy with a controller state (FairCo's accumulated exposure, the frozen re-ranker's labels)
also has ``init_memory(obs, state, env_params, policy_params)`` and ``act_with_memory(key, obs,
state, env_params, policy_params, memory) -> (slate, memory)``; the rollout carries the memory
(:func:`jaxrec.envs.rollout.make_rollout`).
"""

from __future__ import annotations

import inspect
from typing import Any, Protocol

import flax.struct
import jax
import jax.numpy as jnp

from jaxrec.agents.fairness import (
    FairCoItemPolicy,
    FairCoPolicy,
    FrozenRerankPolicy,
    QuotaRerankPolicy,
)
from jaxrec.envs.platform import PlatformEnv
from jaxrec.envs.platform_types import EnvParams, EnvState, Observation
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


POLICIES = {
    "random": RandomPolicy,
    "most_popular": MostPopularPolicy,
    "greedy": GreedyPolicy,
    "quota_rerank": QuotaRerankPolicy,
    "frozen_rerank": FrozenRerankPolicy,
    "fairco": FairCoPolicy,
    "fairco_item": FairCoItemPolicy,
}
# old name -> new name; still built, with a DeprecationWarning
DEPRECATED_POLICIES = {"static_rerank": "quota_rerank"}


def make_policy(name: str, env: PlatformEnv, **kwargs) -> Policy:
    """Build a policy by name: random, most_popular, greedy, quota_rerank, frozen_rerank, fairco
    or fairco_item (``static_rerank`` is the deprecated name of ``quota_rerank``)."""
    if name in DEPRECATED_POLICIES:
        import warnings

        new = DEPRECATED_POLICIES[name]
        warnings.warn(
            f"policy {name!r} is now called {new!r} (live labels, fixed quota); the paper's "
            "static re-ranker with labels frozen at deployment is 'frozen_rerank'",
            DeprecationWarning,
            stacklevel=2,
        )
        name = new
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
