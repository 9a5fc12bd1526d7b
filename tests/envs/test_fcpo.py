"""The FCPO protocol env against a plain Python loop on a small chronological split."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

from jaxrec.data.splits import fcpo_split, popular_group_pivot
from jaxrec.envs.fcpo import FCPOEnv, fcpo_params, tiny_fcpo_params
from jaxrec.errors import ConfigError

N_ITEMS, DIM, STEPS = 12, 3, 6


@pytest.fixture(scope="module")
def setup():
    rng = np.random.default_rng(0)
    rows = []
    for user in range(5):
        items = rng.choice(N_ITEMS, size=rng.integers(7, 12), replace=False)
        rows += [(user, int(i), t) for t, i in enumerate(items)]
    ratings = pd.DataFrame(rows, columns=["user", "item", "timestamp"])
    split = fcpo_split(ratings, n_items=N_ITEMS)
    _, is_head = popular_group_pivot(split.train_counts)
    embeddings = rng.normal(size=(N_ITEMS, DIM)).astype(np.float32)
    return split, embeddings, np.asarray(is_head)


def reference_rollout(split, embeddings, is_head, actions):
    """The protocol as a plain loop: per user, targets consumed on a hit, state shifts on a hit."""
    targets = split.membership("test")
    rewards, costs, histories = [], [], []
    for u in range(len(split.users)):
        recent = list(split.initial[u])
        remaining = set(np.flatnonzero(targets[u]))
        r_u, c_u, h_u = [], [], []
        for t in range(actions.shape[0]):
            item = int(actions[t, u])
            hit = item in remaining
            if hit:
                remaining.discard(item)
                recent = [*recent[1:], item]
            r_u.append(float(hit))
            c_u.append(float(is_head[item]))
            h_u.append(embeddings[recent])
        rewards.append(r_u)
        costs.append(c_u)
        histories.append(h_u)
    return (np.array(rewards).T, np.array(costs).T, np.array(histories).transpose(1, 0, 2, 3))


def test_step_matches_python_loop(setup):
    split, embeddings, is_head = setup
    params = fcpo_params(split, embeddings, is_head, history="test")
    n_users = len(split.users)
    env = FCPOEnv(n_users, N_ITEMS, DIM, episode_len=STEPS)
    # Distinct items per user (never twice an episode), biased towards the test items so hits occur.
    rng = np.random.default_rng(1)
    test_items = split.membership("test")
    actions = np.stack(
        [
            rng.permutation(
                np.r_[np.flatnonzero(test_items[u]), np.flatnonzero(~test_items[u])][:STEPS]
            )
            for u in range(n_users)
        ],
        axis=1,
    ).astype(np.int32)
    obs, state = env.reset(jax.random.key(0), params)
    np.testing.assert_array_equal(np.asarray(state.n_relevant), split.test_len)
    step = jax.jit(env.step)
    rewards, costs, histories, truncs = [], [], [], []
    for t in range(STEPS):
        obs, state, reward, cost, terminated, truncated, _info = step(
            jax.random.key(t), state, jnp.asarray(actions[t]), params
        )
        rewards.append(reward)
        costs.append(cost)
        histories.append(obs.history)
        truncs.append(truncated)
        assert not np.any(terminated)
        assert np.all(np.asarray(obs.available)[np.arange(n_users), actions[t]] == 0)
    ref_r, ref_c, ref_h = reference_rollout(split, embeddings, is_head, actions)
    np.testing.assert_array_equal(np.stack(rewards), ref_r)
    np.testing.assert_array_equal(np.stack(costs), ref_c)
    np.testing.assert_allclose(np.stack(histories), ref_h)
    assert ref_r.sum() > 0
    np.testing.assert_array_equal(np.stack(truncs)[:, 0], np.arange(1, STEPS + 1) >= STEPS)


def test_params_validation(setup):
    split, embeddings, is_head = setup
    with pytest.raises(ConfigError, match="item_embeddings"):
        fcpo_params(split, embeddings[:-1], is_head)
    with pytest.raises(ConfigError, match="history"):
        fcpo_params(split, embeddings, is_head, history="valid")
    with pytest.raises(ConfigError, match="exclude_seen"):
        fcpo_params(split, embeddings, is_head, history="train", exclude_seen=True)
    with pytest.raises(ConfigError, match="episode_len"):
        FCPOEnv(3, 4, 2, episode_len=5)


def test_tiny_world_head_items_are_hit_more_often():
    params = tiny_fcpo_params(jax.random.key(0))
    hit_rate = np.asarray(params.targets.mean(axis=0))
    head = np.asarray(params.is_head)
    assert hit_rate[head].mean() > 2 * hit_rate[~head].mean()
    assert np.all(np.asarray(params.targets.sum(axis=1)) == 8)
    # Initial items are never targets (drawn without replacement from the same draw).
    initial_is_target = np.take_along_axis(
        np.asarray(params.targets), np.asarray(params.initial), 1
    )
    assert not initial_is_target.any()
