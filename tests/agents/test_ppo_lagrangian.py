"""PPO-Lagrangian: the pieces against their formulas, and a two-armed constrained bandit where the
multiplier drives the cost to its limit while unconstrained PPO exceeds it."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxrec.agents.ppo_lagrangian import (
    PPOBatch,
    clipped_surrogate_loss,
    lagrangian_advantage,
    ppo_update,
    update_multiplier,
)


def test_lagrangian_advantage_and_multiplier_formulas():
    a, ac = jnp.array([1.0, -2.0]), jnp.array([0.5, 3.0])
    np.testing.assert_allclose(lagrangian_advantage(a, ac, 0.0), a)
    np.testing.assert_allclose(lagrangian_advantage(a, ac, 3.0), (a - 3.0 * ac) / 4.0)
    assert float(update_multiplier(0.5, 2.0, 1.0, 0.1)) == pytest.approx(0.6)
    assert float(update_multiplier(0.05, 0.0, 1.0, 0.1)) == 0.0  # projected onto l >= 0


def test_clipped_loss_gradient_is_policy_gradient_at_ratio_one_and_zero_when_clipped():
    rng = np.random.default_rng(0)
    logp = jnp.asarray(rng.normal(size=8), jnp.float32)
    adv = jnp.asarray(rng.normal(size=8), jnp.float32)
    grad = jax.grad(clipped_surrogate_loss)(logp, logp, adv, 0.2)
    np.testing.assert_allclose(grad, -adv / 8, rtol=1e-6)  # d/dlogp of -mean(exp(logp - old) A)
    # Ratio 1.5 > 1 + eps with positive advantage, ratio 0.5 with negative: both clipped, no gradient.
    old = logp - jnp.log(jnp.where(adv > 0, 1.5, 0.5))
    np.testing.assert_allclose(jax.grad(clipped_surrogate_loss)(logp, old, adv, 0.2), 0.0)


REWARDS = jnp.array([1.0, 0.2])  # arm 0 pays more but costs 1 per pull
COSTS = jnp.array([1.0, 0.0])
LIMIT = 0.3
BATCH = 256
OPT_LR = 0.5


def log_prob_fn(params, actions):
    return jax.nn.log_softmax(params["logits"])[actions]


@jax.jit
def train_bandit(key, multiplier_lr):
    """Each iteration: pull BATCH arms, centre advantages, update the multiplier, then PPO."""
    optimizer = optax.sgd(OPT_LR)
    params = {"logits": jnp.zeros(2)}

    def iteration(carry, key):
        params, opt_state, multiplier = carry
        k_act, k_ppo = jax.random.split(key)
        actions = jax.random.categorical(k_act, params["logits"], shape=(BATCH,))
        rewards, costs = REWARDS[actions], COSTS[actions]
        mean_cost = costs.mean()
        multiplier = update_multiplier(multiplier, mean_cost, LIMIT, multiplier_lr)
        advantages = lagrangian_advantage(
            rewards - rewards.mean(), costs - costs.mean(), multiplier
        )
        batch = PPOBatch(actions, log_prob_fn(params, actions), advantages)
        params, opt_state, _ = ppo_update(
            k_ppo, params, opt_state, optimizer, log_prob_fn, batch, epochs=2, n_minibatches=2
        )
        return (params, opt_state, multiplier), mean_cost

    init = (params, optimizer.init(params), jnp.float32(0.0))
    _, costs = jax.lax.scan(iteration, init, jax.random.split(key, 300))
    return costs


def test_lagrangian_holds_the_cost_limit_on_a_bandit():
    key = jax.random.key(0)
    constrained = np.asarray(train_bandit(key, 0.5))
    unconstrained = np.asarray(train_bandit(key, 0.0))
    # Unconstrained PPO pulls the expensive arm almost always; the Lagrangian settles at the limit.
    assert unconstrained[-50:].mean() > 0.9
    assert abs(constrained[-100:].mean() - LIMIT) < 0.08


def test_ppo_update_single_full_batch_step_is_sgd_on_the_clipped_loss():
    rng = np.random.default_rng(1)
    actions = jnp.asarray(rng.integers(0, 2, 10))
    params = {"logits": jnp.array([0.3, -0.2])}
    batch = PPOBatch(
        actions, log_prob_fn(params, actions) + 0.05, jnp.asarray(rng.normal(size=10), jnp.float32)
    )
    optimizer = optax.sgd(0.1)

    def loss(p):
        return clipped_surrogate_loss(
            log_prob_fn(p, batch.inputs), batch.old_log_probs, batch.advantages, 0.2
        )

    new, _, _ = ppo_update(
        jax.random.key(0), params, optimizer.init(params), optimizer, log_prob_fn, batch,
        epochs=1, n_minibatches=1,
    )  # fmt: skip
    expected = params["logits"] - 0.1 * jax.grad(loss)(params)["logits"]
    np.testing.assert_allclose(new["logits"], expected, rtol=1e-6)
    # A batch that does not divide evenly still runs (the remainder sits each epoch out).
    ppo_update(
        jax.random.key(0), params, optimizer.init(params), optimizer, log_prob_fn, batch,
        epochs=2, n_minibatches=3,
    )  # fmt: skip
