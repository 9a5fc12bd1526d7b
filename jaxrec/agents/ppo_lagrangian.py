"""PPO-Lagrangian: clipped PPO (Schulman et al. 2017) on a Lagrangian of reward and cost, the
standard constrained-RL baseline (Ray, Achiam & Amodei 2019, "Benchmarking Safe Exploration in Deep
Reinforcement Learning") shipped next to CPO (docs/algorithms.md §1).

The policy maximises the clipped surrogate of the combined advantage ``(A - l A_C) / (1 + l)``
(dividing by ``1 + l`` keeps its scale bounded as the multiplier grows); the multiplier follows
projected gradient ascent on the constraint violation, ``l <- max(0, l + eta (J_C - d))``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax


def lagrangian_advantage(
    reward_advantages: jax.Array, cost_advantages: jax.Array, multiplier: jax.Array
) -> jax.Array:
    """``(A - l A_C) / (1 + l)``, elementwise; all inputs broadcast."""
    return (reward_advantages - multiplier * cost_advantages) / (1.0 + multiplier)


def update_multiplier(
    multiplier: jax.Array,
    episode_cost: jax.Array,
    cost_limit: float | jax.Array,
    learning_rate: float | jax.Array,
) -> jax.Array:
    """Projected ascent on the Lagrange multiplier: ``max(0, l + eta (J_C - d))``.

    ``episode_cost`` (``J_C``) and ``cost_limit`` (``d``) must be on the same scale, e.g. mean
    episode cost.
    """
    return jnp.maximum(0.0, multiplier + learning_rate * (episode_cost - cost_limit))


def clipped_surrogate_loss(
    log_probs: jax.Array, old_log_probs: jax.Array, advantages: jax.Array, clip_eps: float
) -> jax.Array:
    """PPO's clipped objective, negated for minimisation: ``-mean(min(rho A, clip(rho) A))`` with
    ``rho = exp(log_probs - old_log_probs)``; all f[N]."""
    ratio = jnp.exp(log_probs - old_log_probs)
    clipped = jnp.clip(ratio, 1.0 - clip_eps, 1.0 + clip_eps)
    return -jnp.mean(jnp.minimum(ratio * advantages, clipped * advantages))


class PPOBatch(NamedTuple):
    """One batch of on-policy data, flattened over time and users: every leaf has leading axis N.

    Attributes:
      inputs: whatever ``log_prob_fn`` needs besides the parameters (states, sampled actions).
      old_log_probs: f[N] log-probabilities of the sampled actions under the collecting policy.
      advantages: f[N] the combined advantage (:func:`lagrangian_advantage`).
    """

    inputs: Any
    old_log_probs: jax.Array
    advantages: jax.Array


def ppo_update(
    key: jax.Array,
    params,
    opt_state,
    optimizer: optax.GradientTransformation,
    log_prob_fn: Callable[[Any, Any], jax.Array],
    batch: PPOBatch,
    *,
    epochs: int = 4,
    n_minibatches: int = 4,
    clip_eps: float = 0.2,
):
    """``epochs`` passes of minibatch gradient steps on :func:`clipped_surrogate_loss`.

    Each epoch draws a fresh permutation of the N samples and splits it into ``n_minibatches``
    equal minibatches of ``N // n_minibatches`` (the remainder, different each epoch, sits the
    epoch out); everything is one ``lax.scan``.

    Args:
      key: PRNG key for the permutations.
      params, opt_state: policy parameters and ``optimizer`` state.
      log_prob_fn: ``(params, inputs) -> f[n]`` log-probabilities of the sampled actions.
      batch: :class:`PPOBatch`.

    Returns:
      ``(params, opt_state, mean_loss)``.
    """
    n = batch.old_log_probs.shape[0]
    minibatch_size = n // n_minibatches

    def loss_fn(p, minibatch: PPOBatch):
        log_probs = log_prob_fn(p, minibatch.inputs)
        return clipped_surrogate_loss(
            log_probs, minibatch.old_log_probs, minibatch.advantages, clip_eps
        )

    def minibatch_step(carry, minibatch):
        p, state = carry
        loss, grads = jax.value_and_grad(loss_fn)(p, minibatch)
        updates, state = optimizer.update(grads, state, p)
        return (optax.apply_updates(p, updates), state), loss

    def epoch(carry, epoch_key):
        order = jax.random.permutation(epoch_key, n)[: n_minibatches * minibatch_size]
        order = order.reshape(n_minibatches, minibatch_size)
        minibatches = jax.tree.map(lambda leaf: leaf[order], batch)
        return jax.lax.scan(minibatch_step, carry, minibatches)

    (params, opt_state), losses = jax.lax.scan(
        epoch, (params, opt_state), jax.random.split(key, epochs)
    )
    return params, opt_state, losses.mean()
