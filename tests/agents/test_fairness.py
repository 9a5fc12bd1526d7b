"""Fairness re-rankers against NumPy references: the frozen-label quota and the FairCo controller
(group and per item), and their memory carried through rollouts and sweeps."""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrec.agents import (
    FairCoItemPolicy,
    FairCoPolicy,
    FrozenRerankPolicy,
    QuotaRerankPolicy,
    make_policy,
)
from jaxrec.agents.fairness import (
    FairCoItemMemory,
    FairCoItemParams,
    FairCoParams,
    fairco_error,
    fairco_item_error,
)
from jaxrec.data import synthetic_world
from jaxrec.envs import PlatformEnv, init_carry, make_rollout
from jaxrec.envs.rollout import run_chunked
from jaxrec.errors import ConfigError

N_USERS, N_ITEMS, SLATE = 12, 60, 5


@pytest.fixture(scope="module")
def world_env():
    world = synthetic_world(3, n_users=N_USERS, n_items=N_ITEMS, n_producers=4, dim=6)
    env = PlatformEnv(n_users=N_USERS, slate_size=SLATE, history_len=3)
    # fast relabels and many arrivals, so labels move and slots are refilled within a few steps
    params = env.default_params(
        world, relabel_every=2, item_arrival_prob=0.5, item_retire_prob=0.1, popularity_beta=1.0
    )
    return env, params


def numpy_quota(scores, mask, head, n_head):
    """Reference quota: the best n_head allowed head items and the best allowed others."""
    slates = []
    for u in range(scores.shape[0]):
        h = [i for i in np.argsort(-scores[u], kind="stable") if mask[u, i] and head[i]]
        t = [i for i in np.argsort(-scores[u], kind="stable") if mask[u, i] and not head[i]]
        take = min(max(n_head, SLATE - len(t)), len(h))
        chosen = h[:take] + t[: SLATE - take]
        slates.append(sorted(chosen, key=lambda i: -scores[u, i]))
    return np.asarray(slates)


def test_names_and_deprecated_alias(world_env):
    env, _ = world_env
    assert isinstance(make_policy("quota_rerank", env), QuotaRerankPolicy)
    assert isinstance(make_policy("frozen_rerank", env), FrozenRerankPolicy)
    assert isinstance(make_policy("fairco", env, gain=2.0), FairCoPolicy)
    assert isinstance(make_policy("fairco_item", env, gain=2.0), FairCoItemPolicy)
    with pytest.raises(ConfigError, match=r"policy\.head_ratio"):
        make_policy("fairco_item", env, head_ratio=0.2)  # no groups, no target
    with pytest.warns(DeprecationWarning, match="quota_rerank"):
        assert isinstance(make_policy("static_rerank", env), QuotaRerankPolicy)
    with pytest.raises(ConfigError, match=r"policy\.gain"):
        FairCoPolicy(env, gain=-1.0)
    with pytest.raises(ConfigError, match=r"policy\.head_ratio"):
        FrozenRerankPolicy(env, head_ratio=2.0)


def test_frozen_rerank_uses_labels_of_its_first_step(world_env):
    """Over a rollout with relabels and arrivals, every slate equals the NumPy quota on the labels
    of the first step, with items that arrived later counted as long-tail."""
    env, params = world_env
    policy = FrozenRerankPolicy(env, head_ratio=0.4)
    policy_params = policy.init_params()
    obs, state, _, memory = init_carry(env, jax.random.key(1), params, policy, policy_params)
    frozen = np.asarray(obs.item_is_head)
    act = jax.jit(policy.act_with_memory)
    step = jax.jit(env.step)
    moved = refilled = False
    for t in range(8):
        slate, memory = act(jax.random.key(t), obs, state, params, policy_params, memory)
        arrived_later = np.asarray(state.item_arrival_step) > 0
        head = frozen & ~arrived_later
        moved |= bool(np.any(np.asarray(obs.item_is_head) != frozen))
        refilled |= bool(np.any(frozen & arrived_later))
        scores = np.asarray(env.click_logits(state, params))
        mask = np.asarray(env.action_mask(obs))
        np.testing.assert_array_equal(np.asarray(slate), numpy_quota(scores, mask, head, 2))
        obs, state, *_ = step(jax.random.key(100 + t), state, slate, params)
    assert moved and refilled  # the test exercised both the drift and the arrival rule


def numpy_fairco(env, params, policy, steps, key):
    """FairCo written out in NumPy, driven through the same env steps and keys."""
    obs, state = env.reset(key, params)
    exposure = np.zeros(2)
    merit = np.array([policy.head_ratio, 1 - policy.head_ratio])
    slates = []
    for t in range(steps):
        ratio = exposure / np.maximum(merit, 1e-6)
        error = ratio.max() - ratio
        head = np.asarray(obs.item_is_head)
        scores = np.asarray(env.click_logits(state, params), np.float64)
        scores = scores + policy.gain * np.where(head, error[0], error[1])[None, :]
        scores = np.where(np.asarray(env.action_mask(obs)), scores, -np.inf)
        slate = np.argsort(-scores, axis=1, kind="stable")[:, :SLATE]
        served = np.asarray(obs.user_active)
        shown = served[:, None] & np.asarray(obs.item_alive)[slate]
        n = max(served.sum(), 1)
        exposure += [(shown & head[slate]).sum() / n, (shown & ~head[slate]).sum() / n]
        slates.append(slate)
        obs, state, *_ = env.step(jax.random.key(100 + t), state, jnp.asarray(slate), params)
    return np.stack(slates), exposure


def serve_against(env, params, policy, policy_params, key, want):
    """Serve ``policy`` from the world ``key`` resets, through the reference's env keys, checking
    each slate against the reference's ``want`` [steps, U, K]; returns the final memory."""
    obs, state = env.reset(key, params)
    memory = policy.init_memory(obs, state, params, policy_params)
    act = jax.jit(policy.act_with_memory)
    for t in range(len(want)):
        slate, memory = act(jax.random.key(t), obs, state, params, policy_params, memory)
        np.testing.assert_array_equal(np.asarray(slate), want[t])
        obs, state, *_ = env.step(jax.random.key(100 + t), state, slate, params)
    return memory


def test_fairco_matches_numpy_reference(world_env):
    env, params = world_env
    policy = FairCoPolicy(env, head_ratio=0.2, gain=0.7)
    policy_params = policy.init_params()
    key = jax.random.key(2)
    want, want_exposure = numpy_fairco(env, params, policy, 6, key)
    memory = serve_against(env, params, policy, policy_params, key, want)
    np.testing.assert_allclose(np.asarray(memory.exposure), want_exposure, rtol=1e-5)


def test_fairco_error_closed_form():
    # head got 3 items per slate-step against a share of 0.2, tail 2 against 0.8
    error = np.asarray(fairco_error(jnp.array([3.0, 2.0]), jnp.float32(0.2)))
    np.testing.assert_allclose(error, [0.0, 15.0 - 2.5], rtol=1e-6)


def test_fairco_holds_target_and_gain_is_traced(world_env):
    """One compiled rollout serves every gain (traced); with gain > 0 the head share approaches
    the target, with gain 0 (the oracle's ranking) it does not."""
    env, params = world_env
    policy = FairCoPolicy(env, head_ratio=0.2)
    rollout = make_rollout(env, policy, n_steps=60)

    @jax.jit
    @chex.assert_max_traces(n=1)
    def run(gain):
        policy_params = FairCoParams(head_ratio=jnp.float32(0.2), gain=gain)
        carry = init_carry(env, jax.random.key(0), params, policy, policy_params)
        (*_, memory), _ = rollout(carry, params, policy_params)
        return memory.exposure

    exposure = {g: np.asarray(run(jnp.float32(g))) for g in (0.0, 3.0)}
    shares = {g: e[0] / e.sum() for g, e in exposure.items()}
    assert abs(shares[3.0] - 0.2) < 0.03
    assert shares[0.0] > 0.3  # uncontrolled oracle favours popular items


def numpy_fairco_item(env, params, gain, steps, key):
    """Per-item FairCo written out in NumPy, driven through the same env steps and keys; returns
    the slates and the final exposure and merit counts."""
    obs, state = env.reset(key, params)
    m = N_ITEMS
    exposure, merit, since, tau = np.zeros(m), np.zeros(m), np.full(m, int(obs.step)), 0
    examination = np.broadcast_to(np.asarray(params.examination), (SLATE,))
    slates, refilled = [], False
    for t in range(steps):
        arrival = np.asarray(state.item_arrival_step)
        new = arrival > since
        refilled |= bool(new.any())
        exposure[new], merit[new], since[new] = 0.0, 0.0, arrival[new]
        alive = np.asarray(obs.item_alive)
        counted = alive & (merit > 0)
        ratio = np.where(counted, exposure / np.where(counted, merit, 1.0), 0.0)
        top = ratio[counted].max() if counted.any() else 0.0
        error = tau * np.where(counted, top - ratio, 0.0)
        logits = np.asarray(env.click_logits(state, params), np.float64)
        scores = np.where(np.asarray(env.action_mask(obs)), logits + gain * error, -np.inf)
        slate = np.argsort(-scores, axis=1, kind="stable")[:, :SLATE]
        served = np.asarray(obs.user_active)
        n = max(served.sum(), 1)
        for u in np.flatnonzero(served):
            for k, item in enumerate(slate[u]):
                if alive[item]:
                    exposure[item] += examination[k] / n
        merit += (1 / (1 + np.exp(-logits)))[served].sum(axis=0) / n
        tau += 1
        slates.append(slate)
        obs, state, *_ = env.step(jax.random.key(100 + t), state, jnp.asarray(slate), params)
    assert refilled  # the reference exercised the arrival rule
    return np.stack(slates), exposure, merit


def test_fairco_item_matches_numpy_reference(world_env):
    env, params = world_env
    policy = FairCoItemPolicy(env, gain=0.05)
    policy_params = policy.init_params()
    key = jax.random.key(5)
    want, want_exposure, want_merit = numpy_fairco_item(env, params, 0.05, 6, key)
    memory = serve_against(env, params, policy, policy_params, key, want)
    np.testing.assert_allclose(np.asarray(memory.exposure), want_exposure, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(np.asarray(memory.merit), want_merit, rtol=1e-5)


def test_fairco_item_error_closed_form():
    # exposure per unit merit 2 and 1 for the live counted items; item 2 has no merit counted
    # yet, item 3 is dead: after 4 steps only item 1 is short, by 4 * (2 - 1)
    memory = FairCoItemMemory(
        exposure=jnp.array([2.0, 1.0, 0.0, 5.0]),
        merit=jnp.array([1.0, 1.0, 0.0, 0.5]),
        since=jnp.zeros(4, jnp.int32),
        steps=jnp.float32(4.0),
    )
    error = fairco_item_error(memory, jnp.array([True, True, True, False]))
    np.testing.assert_allclose(np.asarray(error), [0.0, 4.0, 0.0, 0.0])


def test_fairco_item_evens_exposure_per_merit(world_env):
    """One compiled rollout serves every gain (traced); with gain > 0 the live items' exposure per
    unit of merit is far more even than under the oracle's ranking (gain 0). On the default
    platform: under the fixture's churn nearly every slot holds a new item within 60 steps."""
    env, _ = world_env
    params = env.default_params(
        synthetic_world(3, n_users=N_USERS, n_items=N_ITEMS, n_producers=4, dim=6)
    )
    policy = FairCoItemPolicy(env)
    rollout = make_rollout(env, policy, n_steps=60)

    @jax.jit
    @chex.assert_max_traces(n=1)
    def run(gain):
        policy_params = FairCoItemParams(gain=gain)
        carry = init_carry(env, jax.random.key(0), params, policy, policy_params)
        (_, state, _, memory), _ = rollout(carry, params, policy_params)
        return memory, state.item_alive

    def spread(gain):
        memory, alive = run(jnp.float32(gain))
        counted = np.asarray(alive) & (np.asarray(memory.merit) > 0)
        ratio = np.asarray(memory.exposure)[counted] / np.asarray(memory.merit)[counted]
        return ratio.std() / ratio.mean()

    assert spread(5.0) < 0.1 * spread(0.0)  # coefficients of variation 0.02 and 1.3


@pytest.mark.slow
def test_memory_policies_run_chunked(world_env):
    """run_chunked carries the memory across chunks: two chunks equal one long rollout."""
    env, params = world_env
    policy = FairCoPolicy(env, head_ratio=0.2, gain=1.0)
    keys = jax.random.split(jax.random.key(4), 2)
    chunks = list(run_chunked(env, policy, keys, params, policy.init_params(), 10, chunk=5))
    whole = list(run_chunked(env, policy, keys, params, policy.init_params(), 10, chunk=10))
    both = np.concatenate([np.asarray(m["head_share"]) for _, m, _ in chunks], axis=1)
    np.testing.assert_allclose(both, np.asarray(whole[0][1]["head_share"]), rtol=1e-6)


@pytest.mark.parametrize("head_ratio", [0.1, 0.3, 0.5, 0.44])
def test_a_fractional_quota_is_rounded_per_slate_with_the_exact_mean(head_ratio):
    from jaxrec.agents.fairness import quota_slate

    users, items = 4000, 30
    rng = np.random.default_rng(0)
    scores = jnp.asarray(rng.normal(size=(users, items)), jnp.float32)
    head = np.arange(items) < 10
    mask = jnp.ones((users, items), bool)
    slates = quota_slate(
        scores, mask, jnp.asarray(head), jnp.float32(head_ratio), SLATE, jax.random.key(1)
    )
    counts = head[np.asarray(slates)].sum(axis=1)
    expected = head_ratio * SLATE
    # every slate holds floor or ceil of the expected count, and the mean is the expected count
    assert set(np.unique(counts)) <= {np.floor(expected + 1e-4), np.ceil(expected - 1e-4)}
    share = expected - np.floor(expected + 1e-4)
    tolerance = 4 * np.sqrt(max(share * (1 - share), 1e-12) / users) + 1e-6
    assert abs(counts.mean() - expected) <= tolerance
    # each slate is the NumPy quota for its own count
    for n_head in np.unique(counts):
        rows = np.flatnonzero(counts == n_head)[:20]
        reference = numpy_quota(
            np.asarray(scores)[rows], np.ones((len(rows), items), bool), head, n_head
        )
        np.testing.assert_array_equal(np.asarray(slates)[rows], reference)
