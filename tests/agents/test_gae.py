"""GAE against a plain Python loop, with terminations and truncations mixed in."""

from __future__ import annotations

import jax
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from jaxrec.agents.gae import center, gae, standardize

T, N = 9, 4
_gae = jax.jit(gae)


def loop_gae(rewards, values, next_values, terminated, truncated, gamma, lam):
    advantages = np.zeros_like(rewards)
    for n in range(rewards.shape[1]):
        running = 0.0
        for t in reversed(range(rewards.shape[0])):
            bootstrap = 0.0 if terminated[t, n] else next_values[t, n]
            delta = rewards[t, n] + gamma * bootstrap - values[t, n]
            if terminated[t, n] or truncated[t, n]:
                running = 0.0
            running = delta + gamma * lam * running
            advantages[t, n] = running
    return advantages


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    gamma=st.floats(0.0, 1.0),
    lam=st.floats(0.0, 1.0),
)
def test_gae_matches_python_loop(seed, gamma, lam):
    rng = np.random.default_rng(seed)
    rewards, values, next_values = (rng.normal(size=(T, N)).astype(np.float32) for _ in range(3))
    terminated = rng.random((T, N)) < 0.15
    truncated = ~terminated & (rng.random((T, N)) < 0.15)
    out = _gae(
        rewards, values, next_values, terminated, truncated, np.float32(gamma), np.float32(lam)
    )
    expected = loop_gae(rewards, values, next_values, terminated, truncated, gamma, lam)
    np.testing.assert_allclose(np.asarray(out.advantages), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(out.returns), expected + values, rtol=1e-5, atol=1e-5)


def test_truncation_bootstraps_and_termination_does_not():
    rewards = np.zeros((1, 2), np.float32)
    values = np.zeros((1, 2), np.float32)
    next_values = np.full((1, 2), 5.0, np.float32)
    terminated = np.array([[True, False]])
    truncated = np.array([[False, True]])
    out = _gae(
        rewards, values, next_values, terminated, truncated, np.float32(0.9), np.float32(0.95)
    )
    np.testing.assert_allclose(np.asarray(out.advantages), [[0.0, 4.5]])


def test_lambda_one_gives_discounted_return_minus_value():
    rng = np.random.default_rng(3)
    rewards = rng.normal(size=(T, 1)).astype(np.float32)
    values = rng.normal(size=(T, 1)).astype(np.float32)
    next_values = np.concatenate([values[1:], np.zeros((1, 1), np.float32)])
    done = np.zeros((T, 1), bool)
    done[-1] = True
    out = _gae(
        rewards, values, next_values, done, np.zeros_like(done), np.float32(0.9), np.float32(1.0)
    )
    discounted = np.array([sum(0.9**k * rewards[t + k, 0] for k in range(T - t)) for t in range(T)])
    np.testing.assert_allclose(np.asarray(out.returns)[:, 0], discounted, rtol=1e-5, atol=1e-5)


def test_standardize_and_center():
    x = np.random.default_rng(0).normal(3.0, 2.0, size=(T, N)).astype(np.float32)
    s = np.asarray(standardize(x))
    np.testing.assert_allclose([s.mean(), s.std()], [0.0, 1.0], atol=1e-5)
    c = np.asarray(center(x))
    np.testing.assert_allclose(c, x - x.mean(), atol=1e-5)


def test_trainer_advantages_value_each_state_once_as_the_loop_does():
    """:func:`advantages` runs each critic once over the ``T + 1`` states; the loop values the
    state at ``t`` and the state after it (``history[t + 1]``, the final one last) one at a time,
    with the episode's time fractions."""
    import jax.numpy as jnp

    from jaxrec.agents.networks import Critic
    from jaxrec.agents.train_config import CPOConfig
    from jaxrec.agents.train_stages import RunnerState, Trajectory, advantages, time_features

    rng = np.random.default_rng(0)
    h, d = 3, 2
    f32 = lambda *shape: jnp.asarray(rng.normal(size=shape), jnp.float32)  # noqa: E731
    traj = Trajectory(
        history=f32(T, N, h, d),
        action=f32(T, N, d),
        log_prob=f32(T, N),
        reward=f32(T, N),
        cost=f32(T, N),
        terminated=jnp.asarray(rng.random((T, N)) < 0.1),
        truncated=jnp.zeros((T, N), bool).at[-1].set(True),
        final_history=f32(N, h, d),
    )
    net = Critic(hidden=(8,))
    critics = [net.init(jax.random.key(k), traj.history[0], jnp.zeros(N)) for k in (1, 2)]
    runner = RunnerState(*([None] * len(RunnerState._fields)))._replace(
        reward_critic=critics[0], cost_critic=critics[1]
    )
    config = CPOConfig(gamma=0.9, gae_lambda=0.8)
    reward_gae, cost_gae = advantages(config, net, runner, traj, time_features(T, False))
    states = np.concatenate([np.asarray(traj.history), np.asarray(traj.final_history)[None]])
    for critic, signal, got in (
        (critics[0], traj.reward, reward_gae),
        (critics[1], traj.cost, cost_gae),
    ):
        value = np.stack(
            [
                np.asarray(net.apply(critic, states[t], jnp.full(N, t / T, jnp.float32)))
                for t in range(T + 1)
            ]
        )
        expected = loop_gae(
            np.asarray(signal),
            value[:-1],
            value[1:],
            np.asarray(traj.terminated),
            np.asarray(traj.truncated),
            0.9,
            0.8,
        )
        np.testing.assert_allclose(np.asarray(got.advantages), expected, rtol=1e-4, atol=1e-5)
