"""Marketplace health metrics against plain NumPy computations on the same states."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrec.agents.baselines import RandomPolicy
from jaxrec.data import synthetic_world
from jaxrec.envs import PlatformEnv
from jaxrec.errors import ConfigError
from jaxrec.metrics.health import HEALTH_METRICS, make_health_metrics, user_segments

N_USERS, N_ITEMS, K = 24, 60, 4


def np_gini(x):
    x = np.sort(np.asarray(x, np.float64))
    n = x.size
    return (
        0.0
        if x.sum() == 0
        else float(np.sum((2 * np.arange(1, n + 1) - n - 1) * x) / (n * x.sum()))
    )


@pytest.fixture(scope="module")
def steps():
    """Eight steps of a random policy: (state_before, state_after, info, metrics) per step."""
    world = synthetic_world(0, n_users=N_USERS, n_items=N_ITEMS, dim=4, n_producers=8)
    env = PlatformEnv(n_users=N_USERS, slate_size=K, log_steps=3)
    params = env.default_params(world, item_arrival_prob=0.3, item_retire_prob=0.05)
    mainstream = user_segments(world)
    health = make_health_metrics(env, mainstream, new_item_window=5)
    policy = RandomPolicy(env)

    @jax.jit
    def step(key, obs, state):
        slate = policy.act(key, obs, state, params, policy.init_params())
        obs2, state2, reward, cost, terminated, _, info = env.step(key, state, slate, params)
        return obs2, state2, info, health(state2, reward, cost, terminated, info), slate

    obs, state = env.reset(jax.random.key(1), params)
    records = []
    for t in range(8):
        obs, new_state, info, metrics, slate = step(jax.random.key(t + 10), obs, state)
        records.append((state, new_state, info, metrics, slate))
        state = new_state
    return records, np.asarray(mainstream)


def test_names_and_values_are_finite(steps):
    records, _ = steps
    for *_, metrics, _ in records:
        assert set(metrics) == set(HEALTH_METRICS)
        assert all(np.isfinite(float(v)) for v in metrics.values())


def test_metrics_match_numpy(steps):
    records, mainstream = steps
    n_waits = 0  # the test must see new items to mean anything
    for before, after, info, metrics, slate in records:
        slate = np.asarray(slate)
        exposure = np.asarray(info["exposure"], np.float64)
        clicks = np.asarray(info["clicks"], np.float64)
        shown = np.asarray(info["shown"])
        step_exposure = np.zeros(N_ITEMS)
        np.add.at(step_exposure, slate[shown], exposure[shown])
        alive = np.asarray(after.item_alive)
        popularity = np.asarray(after.item_popularity)
        first = np.asarray(after.item_first_impression_step)
        step = int(after.step)
        cold = alive & ((first < 0) | (first >= step - 1))
        warm = np.flatnonzero(alive & ~cold)
        warm = warm[np.argsort(-popularity[warm], kind="stable")]
        n_alive = alive.sum()
        n_head, n_torso = int(np.ceil(0.01 * n_alive)), int(np.ceil(0.2 * n_alive))
        total = step_exposure[alive].sum()
        buckets = {
            "exposure_head": warm[:n_head],
            "exposure_torso": warm[n_head:n_torso],
            "exposure_tail": warm[n_torso:],
            "exposure_cold": np.flatnonzero(cold),
        }
        for name, items in buckets.items():
            assert float(metrics[name]) == pytest.approx(
                step_exposure[items].sum() / total, abs=1e-5
            )

        recent = np.where(alive, np.asarray(after.item_exposure_recent), 0.0)
        producers = np.zeros(after.producer_active.shape[0])
        np.add.at(producers, np.asarray(after.item_producer), recent)
        assert float(metrics["producer_gini"]) == pytest.approx(np_gini(producers), abs=1e-5)
        shares = producers / producers.sum()
        n = shares.size
        assert float(metrics["producer_hhi"]) == pytest.approx(
            ((shares**2).sum() - 1 / n) / (1 - 1 / n), abs=1e-5
        )
        top = int(np.ceil(0.01 * N_ITEMS))
        assert float(metrics["top1_share"]) == pytest.approx(
            np.sort(recent)[::-1][:top].sum() / recent.sum(), abs=1e-5
        )

        head = np.asarray(before.item_is_head)[slate] & shown
        assert float(metrics["head_slate_share"]) == pytest.approx(head.sum() / shown.sum())
        tail_clicks = clicks[~head].sum()
        assert float(metrics["longtail_clicks"]) == pytest.approx(
            tail_clicks / clicks.sum() if clicks.sum() else 0.0, abs=1e-6
        )

        served = np.asarray(before.user_active)
        users = np.asarray(before.user_id)
        user_clicks = clicks.sum(axis=1)
        main = served & mainstream[users]
        niche = served & ~mainstream[users]
        for name, group in (("clicks_mainstream", main), ("clicks_niche", niche)):
            expected = user_clicks[group].mean() if group.any() else 0.0
            assert float(metrics[name]) == pytest.approx(expected, abs=1e-6)
        assert float(metrics["clicks"]) == clicks.sum()

        arrival = np.asarray(after.item_arrival_step)
        new = alive & (arrival > 0) & (step - arrival <= 5)
        waits = [(first[i] if first[i] >= 0 else step) - arrival[i] for i in np.flatnonzero(new)]
        assert float(metrics["new_item_wait"]) == pytest.approx(np.mean(waits) if waits else 0.0)
        n_waits += len(waits)
        assert float(metrics["active_producers"]) == np.asarray(after.producer_active).sum()
    assert n_waits > 0


def test_segments_split_the_pool_in_half():
    world = synthetic_world(0, n_users=40, n_items=30, dim=4, n_producers=5)
    mainstream = np.asarray(user_segments(world))
    assert mainstream.sum() == 20


def test_needs_the_log():
    with pytest.raises(ConfigError, match=r"log_steps"):
        make_health_metrics(PlatformEnv(n_users=4, slate_size=2), jnp.ones(4, bool))


def test_empty_positions_is_the_share_of_served_slate_positions_left_empty():
    world = synthetic_world(0, n_users=N_USERS, n_items=N_ITEMS, dim=4, n_producers=8)
    env = PlatformEnv(n_users=N_USERS, slate_size=K, log_steps=2)
    params = env.default_params(world)
    health = jax.jit(make_health_metrics(env, user_segments(world)))
    policy = RandomPolicy(env)
    obs, state = env.reset(jax.random.key(0), params)
    slate = policy.act(jax.random.key(1), obs, state, params, policy.init_params())
    # every third user gets only the first two positions filled (as a policy's floors would)
    holes = (np.arange(N_USERS)[:, None] % 3 == 0) & (np.arange(K)[None, :] >= 2)
    slate = jnp.where(holes, -1, slate)
    _, after, reward, cost, terminated, _, info = env.step(jax.random.key(2), state, slate, params)
    metrics = health(after, reward, cost, terminated, info)
    served = np.asarray(state.user_active)
    expected = (holes & served[:, None]).sum() / (served.sum() * K)
    assert expected > 0
    assert float(metrics["empty_positions"]) == pytest.approx(expected)
