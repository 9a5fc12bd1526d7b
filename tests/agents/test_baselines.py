"""Baseline policies: slates are distinct, allowed items; the static re-ranker keeps its quota."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from jaxrec.agents import QuotaRerankPolicy, make_policy
from jaxrec.agents.fairness import QuotaRerankParams
from jaxrec.data import synthetic_world
from jaxrec.envs import PlatformEnv
from jaxrec.errors import ConfigError

N_USERS, N_ITEMS, SLATE = 16, 40, 5


@pytest.fixture(scope="module")
def setup():
    world = synthetic_world(1, n_users=N_USERS, n_items=N_ITEMS, n_producers=4, dim=8)
    env = PlatformEnv(n_users=N_USERS, slate_size=SLATE, seen_window=1)
    params = env.default_params(world)
    obs, state = env.reset(jax.random.key(0), params)
    # a few greedy steps so histories and seen-masks are non-trivial
    greedy = make_policy("greedy", env)
    for i in range(3):
        slate = greedy.act(jax.random.key(i), obs, state, params, greedy.init_params())
        obs, state, *_ = env.step(jax.random.key(10 + i), state, slate, params)
    return env, params, obs, state


@pytest.mark.parametrize("name", ["random", "most_popular", "greedy", "quota_rerank"])
def test_slates_are_distinct_allowed_items(setup, name):
    env, params, obs, state = setup
    policy = make_policy(name, env)
    slate = np.asarray(
        jax.jit(policy.act)(jax.random.key(5), obs, state, params, policy.init_params())
    )
    mask = np.asarray(env.action_mask(obs))
    assert slate.shape == (N_USERS, SLATE)
    for user in range(N_USERS):
        assert len(set(slate[user])) == SLATE
        assert mask[user, slate[user]].all()


def test_greedy_orders_by_click_logit(setup):
    env, params, obs, state = setup
    policy = make_policy("greedy", env)
    slate = np.asarray(policy.act(jax.random.key(0), obs, state, params, policy.init_params()))
    logits = np.where(env.action_mask(obs), env.click_logits(state, params), -np.inf)
    for user in range(N_USERS):
        expected = np.argsort(-logits[user], kind="stable")[:SLATE]
        np.testing.assert_array_equal(slate[user], expected)


_RERANK_ACT = {}


def rerank_act(setup):
    """One compiled static re-ranker for all examples (the ratio is a traced parameter)."""
    env = setup[0]
    if env not in _RERANK_ACT:
        _RERANK_ACT[env] = jax.jit(QuotaRerankPolicy(env).act)
    return _RERANK_ACT[env]


@given(ratio=st.floats(0.0, 1.0), seed=st.integers(0, 2**16))
def test_quota_rerank_keeps_quota_and_best_items(setup, ratio, seed):
    env, params, obs, state = setup
    rng = np.random.default_rng(seed)
    obs = obs.replace(item_is_head=jnp.asarray(rng.random(N_ITEMS) < 0.3))
    slate = np.asarray(
        rerank_act(setup)(
            jax.random.key(0), obs, state, params, QuotaRerankParams(jnp.float32(ratio))
        )
    )
    mask = np.asarray(env.action_mask(obs))
    head = np.asarray(obs.item_is_head)
    logits = np.asarray(env.click_logits(state, params))
    # a fractional quota is rounded down or up per slate (computed in float32, as the policy does)
    expected = np.float32(ratio) * np.float32(SLATE)
    whole = int(np.floor(expected + np.float32(1e-4)))
    wants = {whole, whole + 1} if expected > whole else {whole}
    for user in range(N_USERS):
        n_head_avail = int((mask[user] & head).sum())
        n_tail_avail = int((mask[user] & ~head).sum())
        n_head = int(head[slate[user]].sum())
        assert n_head in {min(max(want, SLATE - n_tail_avail), n_head_avail) for want in wants}
        # within each group, the chosen items are that group's best allowed ones
        for group in (head, ~head):
            chosen = [i for i in slate[user] if group[i]]
            allowed = np.where(mask[user] & group, logits[user], -np.inf)
            best = np.argsort(-allowed, kind="stable")[: len(chosen)]
            assert sorted(chosen) == sorted(best)
        assert np.all(np.diff(logits[user, slate[user]]) <= 0)  # ordered by score


def test_bad_policy_name_and_ratio(setup):
    env, *_ = setup
    with pytest.raises(ConfigError, match="policy"):
        make_policy("popularity", env)
    with pytest.raises(ConfigError, match=r"policy\.head_ratio"):
        QuotaRerankPolicy(env, head_ratio=1.5)
