"""PPO-Lagrangian: the pieces against their formulas (the PID multiplier against a NumPy loop), and
a two-armed constrained bandit where the multiplier drives the cost to its limit while
unconstrained PPO exceeds it, and where the PID multiplier damps the plain ascent's oscillation."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jaxrec.agents.ppo_lagrangian import (
    PPOBatch,
    clipped_surrogate_loss,
    lagrangian_advantage,
    pid_init,
    ppo_update,
    update_multiplier,
    update_pid_multiplier,
)
from jaxrec.agents.train import CPOConfig, make_train
from jaxrec.envs.fcpo import FCPOEnv, tiny_fcpo_params


def test_lagrangian_advantage_and_multiplier_formulas():
    a, ac = jnp.array([1.0, -2.0]), jnp.array([0.5, 3.0])
    np.testing.assert_allclose(lagrangian_advantage(a, ac, 0.0), a)
    np.testing.assert_allclose(lagrangian_advantage(a, ac, 3.0), (a - 3.0 * ac) / 4.0)
    assert float(update_multiplier(0.5, 2.0, 1.0, 0.1)) == pytest.approx(0.6)
    assert float(update_multiplier(0.05, 0.0, 1.0, 0.1)) == 0.0  # projected onto l >= 0


def numpy_pid_multipliers(costs, limit, ki, kp, kd):
    """Stooke et al. (2020), Algorithm 2, as a plain loop in float64."""
    integral, previous, multipliers = 0.0, None, []
    for cost in costs:
        error = cost - limit
        integral = max(0.0, integral + ki * error)
        rise = 0.0 if previous is None else max(0.0, cost - previous)
        multipliers.append(max(0.0, kp * error + integral + kd * rise))
        previous = cost
    return np.array(multipliers)


def pid_multipliers(costs, limit, ki, kp, kd):
    def one(state, cost):
        multiplier, state = update_pid_multiplier(state, cost, limit, ki, kp, kd)
        return state, multiplier

    return np.asarray(jax.lax.scan(one, pid_init(), jnp.asarray(costs, jnp.float32))[1])


gain = st.floats(0.0, 2.0)


@settings(max_examples=30, deadline=None)
@given(
    costs=st.lists(st.floats(0.0, 10.0), min_size=1, max_size=20),
    limit=st.floats(0.0, 5.0),
    ki=gain,
    kp=gain,
    kd=gain,
)
def test_pid_multiplier_matches_a_numpy_loop(costs, limit, ki, kp, kd):
    np.testing.assert_allclose(
        pid_multipliers(costs, limit, ki, kp, kd),
        numpy_pid_multipliers(costs, limit, ki, kp, kd),
        rtol=1e-5,
        atol=1e-4,
    )


def test_pid_multiplier_without_p_and_d_is_the_plain_ascent_and_zero_when_unconstrained():
    costs = np.random.default_rng(0).uniform(0, 3, 30).astype(np.float32)
    plain, multiplier = [], jnp.float32(0.0)
    for cost in costs:
        multiplier = update_multiplier(multiplier, cost, 1.0, 0.3)
        plain.append(float(multiplier))
    np.testing.assert_allclose(pid_multipliers(costs, 1.0, 0.3, 0.0, 0.0), plain, rtol=1e-6)
    # An infinite limit (the unconstrained agent) gives 0 for any gains, 0 included: no NaN.
    for ki, kp, kd in ((0.0, 0.0, 0.0), (0.3, 1.0, 2.0)):
        np.testing.assert_array_equal(pid_multipliers(costs, np.inf, ki, kp, kd), 0.0)


def test_the_trainers_multiplier_is_the_pid_of_its_episode_costs():
    """``make_train`` feeds each iteration's measured episode cost to the PID multiplier: the
    logged multipliers equal the NumPy loop run on the logged costs."""
    users, items, dim, limit, (ki, kp, kd) = 32, 24, 4, 1.0, (0.05, 0.3, 0.5)
    env = FCPOEnv(users, items, dim, episode_len=6)
    params = tiny_fcpo_params(jax.random.key(0), users, items, dim)
    config = CPOConfig(
        algorithm="ppo-lag", iterations=8, hidden=(16,), multiplier_lr=ki, multiplier_kp=kp,
        multiplier_kd=kd, critic_batch=64,
    )  # fmt: skip
    state, metrics = jax.jit(make_train(config, env, params))(jax.random.key(2), limit)
    costs = np.asarray(metrics["episode_cost"], np.float64)
    expected = numpy_pid_multipliers(costs, limit, ki, kp, kd)
    np.testing.assert_allclose(metrics["multiplier"], expected, rtol=1e-5, atol=1e-5)
    # the P and D terms matter here: without them the multipliers would differ
    assert np.abs(expected - numpy_pid_multipliers(costs, limit, ki, 0.0, 0.0)).max() > 0.1
    assert float(state.pid.previous_cost) == pytest.approx(costs[-1], rel=1e-6)


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
def train_bandit(key, ki, kp=0.0, kd=0.0):
    """Each iteration: pull BATCH arms, centre advantages, update the multiplier, then PPO."""
    optimizer = optax.sgd(OPT_LR)
    params = {"logits": jnp.zeros(2)}

    def iteration(carry, key):
        params, opt_state, pid = carry
        k_act, k_ppo = jax.random.split(key)
        actions = jax.random.categorical(k_act, params["logits"], shape=(BATCH,))
        rewards, costs = REWARDS[actions], COSTS[actions]
        mean_cost = costs.mean()
        multiplier, pid = update_pid_multiplier(pid, mean_cost, LIMIT, ki, kp, kd)
        advantages = lagrangian_advantage(
            rewards - rewards.mean(), costs - costs.mean(), multiplier
        )
        batch = PPOBatch(actions, log_prob_fn(params, actions), advantages)
        params, opt_state, _ = ppo_update(
            k_ppo, params, opt_state, optimizer, log_prob_fn, batch, epochs=2, n_minibatches=2
        )
        return (params, opt_state, pid), mean_cost

    init = (params, optimizer.init(params), pid_init())
    _, costs = jax.lax.scan(iteration, init, jax.random.split(key, 300))
    return costs


def test_lagrangian_holds_the_cost_limit_on_a_bandit():
    key = jax.random.key(0)
    constrained = np.asarray(train_bandit(key, 0.5))
    unconstrained = np.asarray(train_bandit(key, 0.0))
    # Unconstrained PPO pulls the expensive arm almost always; the Lagrangian settles at the limit.
    assert unconstrained[-50:].mean() > 0.9
    assert abs(constrained[-100:].mean() - LIMIT) < 0.08


def test_pid_multiplier_damps_the_plain_ascents_oscillation_on_the_bandit():
    """The same integral gain with and without a proportional term: the plain ascent winds up
    and swings the cost around the limit (mean distance about 0.2 after iteration 50, down to
    0.05 at its lowest); the PID multiplier settles it (about 0.025, never below 0.15)."""
    for seed in range(3):
        plain = np.asarray(train_bandit(jax.random.key(seed), 0.5))[50:]
        pid = np.asarray(train_bandit(jax.random.key(seed), 0.5, 2.0))[50:]
        assert np.abs(plain - LIMIT).mean() > 0.15
        assert np.abs(pid - LIMIT).mean() < 0.05
        assert pid.min() > plain.min() + 0.1


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
