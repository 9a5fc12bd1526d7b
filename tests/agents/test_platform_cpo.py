"""CPO on the dynamic platform: the agent's view of the platform against NumPy, and (slow) CPO
holding its head-exposure limit where the unconstrained agent does not."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrec.agents.platform_cpo import PlatformAgentEnv, item_features
from jaxrec.agents.train import CPOConfig
from jaxrec.data.synthetic import synthetic_world
from jaxrec.envs.platform import PlatformEnv
from jaxrec.experiments.fcpo import train_grid

U, M, D, K = 16, 60, 4, 5


@pytest.fixture(scope="module")
def world():
    platform = PlatformEnv(n_users=U, slate_size=K, history_len=3)
    params = platform.default_params(
        synthetic_world(0, n_users=U, n_items=M, n_producers=4, dim=D), relabel_every=5
    )
    return PlatformAgentEnv(platform, D, episode_len=6), params


def test_observation_and_slates_match_numpy(world):
    env, params = world
    obs, state = env.reset(jax.random.key(0), params)
    rng = np.random.default_rng(0)
    slates = jnp.asarray(np.stack([rng.permutation(M)[:K] for _ in range(U)]), jnp.int32)
    obs, state, *_ = jax.jit(env.step)(jax.random.key(1), state, slates, params)
    history = np.asarray(state.user_history)
    factors = np.asarray(state.item_factors)
    expected = np.where((history >= 0)[..., None], factors[np.maximum(history, 0)], 0.0)
    np.testing.assert_allclose(obs.history, expected, rtol=1e-6)
    features = np.asarray(item_features(state))
    np.testing.assert_array_equal(features[:, -1], np.asarray(state.item_is_head))
    action = rng.normal(size=(U, D + 1)).astype(np.float32)
    chosen = np.asarray(env.select(jnp.asarray(action), obs, params))
    scores = np.where(np.asarray(obs.mask), action @ features.T, -np.inf)
    np.testing.assert_array_equal(chosen, np.argsort(-scores, axis=1, kind="stable")[:, :K])


@pytest.mark.slow  # ~60 s: trains two limits x one seed on a 64-user platform
def test_cpo_holds_head_exposure_on_the_platform():
    platform = PlatformEnv(n_users=64, slate_size=K, history_len=5)
    params = platform.default_params(
        synthetic_world(0, n_users=64, n_items=200, n_producers=8, dim=8), popularity_beta=1.0
    )
    env = PlatformAgentEnv(platform, 8, episode_len=20)
    config = CPOConfig(iterations=60, hidden=(32, 32), critic_batch=512)
    limit = 20.0  # one head item per slate on average
    _, log = train_grid(config, env, params, [limit, jnp.inf], 1, progress=False)
    constrained, unconstrained = log["episode_cost"][:, 0, -10:].mean(axis=1)
    assert constrained <= limit * 1.2
    assert unconstrained > limit * 2
    returns = log["episode_return"][:, 0]
    assert returns[0, -10:].mean() > returns[0, :5].mean()  # the constrained agent still learns
