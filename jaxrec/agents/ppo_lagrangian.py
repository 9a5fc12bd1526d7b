"""PPO-Lagrangian: clipped PPO (Schulman et al. 2017) on a Lagrangian of reward and cost, the
standard constrained-RL baseline (Ray, Achiam & Amodei 2019, "Benchmarking Safe Exploration in Deep
Reinforcement Learning") shipped next to CPO (docs/algorithms.md §1).

The policy maximises the clipped surrogate of the combined advantage ``(A - l A_C) / (1 + l)``
(dividing by ``1 + l`` keeps its scale bounded as the multiplier grows); the multiplier follows
projected gradient ascent on the constraint violation, ``l <- max(0, l + eta (J_C - d))``.

That ascent is an integral controller on the violation: while the policy lags behind the
multiplier, the violation keeps adding up, so the multiplier winds up past the value that would
hold the limit and the cost then undershoots for as long as it takes to unwind. The PID
Lagrangian (Stooke, Achiam & Abbeel, ICML 2020, "Responsive Safety in Reinforcement Learning by
PID Lagrangian Methods", Algorithm 2) adds a proportional term, which acts at once and vanishes at
the limit, and a derivative term on the cost's rise, which acts before the violation has added
up: :func:`update_pid_multiplier`. With both gains 0 it is the plain ascent.
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


class PIDState(NamedTuple):
    """What :func:`update_pid_multiplier` carries between updates (scalars).

    Attributes:
      integral: the integral term ``I`` (already times ``K_I``; projected onto ``I >= 0``).
      previous_cost: the last update's ``J_C`` (``inf`` before the first: no rise yet).
    """

    integral: jax.Array
    previous_cost: jax.Array


def pid_init() -> PIDState:
    """The state before the first update: no integral, no previous cost."""
    return PIDState(jnp.zeros((), jnp.float32), jnp.full((), jnp.inf, jnp.float32))


def update_pid_multiplier(
    state: PIDState,
    episode_cost: jax.Array,
    cost_limit: float | jax.Array,
    ki: float | jax.Array,
    kp: float | jax.Array = 0.0,
    kd: float | jax.Array = 0.0,
) -> tuple[jax.Array, PIDState]:
    """The PID Lagrange multiplier (Stooke et al. 2020, Algorithm 2), one update per iteration:

    ``I <- max(0, I + K_I (J_C - d))``,
    ``l = max(0, K_P (J_C - d) + I + K_D max(0, J_C - J_C_prev))``.

    ``I`` is :func:`update_multiplier`'s ascent, so ``kp = kd = 0`` gives exactly its multiplier.
    The paper smooths the P and D inputs with moving averages against noisy cost estimates; here
    ``J_C`` is already a mean over every user of the batch, and the inputs go in unsmoothed. An
    infinite ``cost_limit`` (unconstrained) gives ``l = 0`` whatever the gains.

    Args:
      state: :class:`PIDState` (:func:`pid_init` before the first update).
      episode_cost, cost_limit: ``J_C`` and ``d`` on the same scale (scalars).
      ki, kp, kd: the integral (:func:`update_multiplier`'s learning rate), proportional and
        derivative gains, each >= 0.

    Returns:
      ``(multiplier, new_state)``.

    >>> state = pid_init()
    >>> l, state = update_pid_multiplier(state, 3.0, 1.0, ki=0.1, kp=0.5, kd=1.0)
    >>> round(float(l), 6)  # 0.5 * 2 + 0.2; no rise on the first update
    1.2
    >>> l, state = update_pid_multiplier(state, 3.5, 1.0, ki=0.1, kp=0.5, kd=1.0)
    >>> round(float(l), 6)  # 0.5 * 2.5 + (0.2 + 0.25) + 1.0 * 0.5
    2.2
    """
    finite = jnp.isfinite(cost_limit)
    error = jnp.where(finite, episode_cost - cost_limit, 0.0)
    integral = update_multiplier(state.integral, error, 0.0, ki)
    rise = jnp.maximum(0.0, episode_cost - state.previous_cost)
    multiplier = jnp.where(finite, jnp.maximum(0.0, kp * error + integral + kd * rise), 0.0)
    return multiplier, PIDState(integral, jnp.asarray(episode_cost, jnp.float32))


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
