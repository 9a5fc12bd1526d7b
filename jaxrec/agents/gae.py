"""Generalized advantage estimation (Schulman et al. 2016, "High-Dimensional Continuous Control Using
Generalized Advantage Estimation", ICLR) for the reward and the cost of a constrained MDP.

Time runs along axis 0; any trailing batch axes (users, worlds) are carried along. An episode that
*terminates* has no future, so its last step does not bootstrap; one that is *truncated* by a time
limit does: its last TD error uses the critic's value of the true next state. Either way the
advantage recursion does not cross into the next episode.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp


class Advantages(NamedTuple):
    """``advantages`` and ``returns`` (= advantages + values, the critic's regression target)."""

    advantages: jax.Array
    returns: jax.Array


def gae(
    rewards: jax.Array,
    values: jax.Array,
    next_values: jax.Array,
    terminated: jax.Array,
    truncated: jax.Array,
    gamma: float | jax.Array,
    lam: float | jax.Array,
) -> Advantages:
    """GAE(gamma, lambda) by a reverse ``lax.scan`` over time.

    ``delta_t = r_t + gamma (1 - terminated_t) V(s_{t+1}) - V(s_t)`` and
    ``A_t = delta_t + gamma lambda (1 - done_t) A_{t+1}`` with ``done = terminated | truncated``.

    Args:
      rewards: f[T, ...] reward (or cost) received after the action at step t.
      values: f[T, ...] critic value of the state at step t.
      next_values: f[T, ...] critic value of the state reached after step t (before any reset);
        ``next_values[t] = values[t + 1]`` inside an episode, the bootstrap value at its end.
      terminated, truncated: bool[T, ...] whether the episode ended after step t.
      gamma, lam: discount and GAE lambda.

    Returns:
      :class:`Advantages` with both fields f[T, ...].
    """
    not_terminated = 1.0 - terminated.astype(rewards.dtype)
    continues = 1.0 - jnp.logical_or(terminated, truncated).astype(rewards.dtype)
    td_errors = rewards + gamma * not_terminated * next_values - values

    def backward(next_advantage, inputs):
        td_error, continue_t = inputs
        advantage = td_error + gamma * lam * continue_t * next_advantage
        return advantage, advantage

    _, advantages = jax.lax.scan(
        backward, jnp.zeros_like(rewards[0]), (td_errors, continues), reverse=True
    )
    return Advantages(advantages=advantages, returns=advantages + values)


def standardize(advantages: jax.Array, eps: float = 1e-8) -> jax.Array:
    """Zero mean, unit standard deviation over all entries: for reward advantages."""
    return (advantages - advantages.mean()) / (advantages.std() + eps)


def center(advantages: jax.Array) -> jax.Array:
    """Zero mean only, over all entries: for cost advantages, whose scale must stay that of the
    cost so the constraint's linearisation ``c + b.x`` keeps its units (docs/algorithms.md §1)."""
    return advantages - advantages.mean()
