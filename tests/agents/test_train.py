"""make_train on the tiny planted FCPO world: CPO learns while holding its cost limit where an
unconstrained run exceeds it, compiles once for every limit, and seeds batched match seeds alone."""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrec.agents.networks import GaussianPolicy
from jaxrec.agents.train import (
    TRAINING_METRICS,
    CPOConfig,
    evaluate_policy,
    make_train,
    protocol_metrics,
)
from jaxrec.envs.fcpo import FCPOEnv, tiny_fcpo_params
from jaxrec.errors import ConfigError

N_USERS, N_ITEMS, DIM, HORIZON = 64, 48, 8, 10
# CPO's cost hovers around its limit; the tolerance is a quarter of the gap to the unconstrained run.
LIMIT, COST_TOLERANCE = 1.0, 0.5


@pytest.fixture(scope="module")
def world():
    env = FCPOEnv(N_USERS, N_ITEMS, DIM, episode_len=HORIZON)
    return env, tiny_fcpo_params(jax.random.key(0), N_USERS, N_ITEMS, DIM)


def random_policy_return(env, params, key, n_episodes=32):
    """Mean episode return and cost of uniformly random distinct items: the bar to learn past."""

    def episode(key):
        obs, state = env.reset(key, params)

        def step(carry, k):
            obs, state = carry
            scores = jnp.where(obs.available, jax.random.uniform(k, obs.available.shape), -1.0)
            items = jnp.argmax(scores, axis=1)
            obs, state, reward, cost, *_ = env.step(k, state, items, params)
            return (obs, state), (reward, cost)

        _, (reward, cost) = jax.lax.scan(step, (obs, state), jax.random.split(key, HORIZON))
        return reward.sum(0).mean(), cost.sum(0).mean()

    returns, costs = jax.jit(jax.vmap(episode))(jax.random.split(key, n_episodes))
    return float(returns.mean()), float(costs.mean())


def tail_mean(metrics, name, n=20):
    return float(np.asarray(metrics[name])[-n:].mean())


def test_cpo_learns_within_the_cost_limit_and_compiles_once(world):
    env, params = world
    config = CPOConfig(algorithm="cpo", iterations=150, hidden=(32, 32))
    # two seeds batched, so the checks read a seed average rather than one random stream
    train = jax.jit(
        jax.vmap(chex.assert_max_traces(make_train(config, env, params).train, n=1), (0, None))
    )
    keys = jax.random.split(jax.random.key(1), 2)
    _, constrained = train(keys, LIMIT)
    _, unconstrained = train(keys, jnp.inf)  # same program: the limit is traced
    assert np.all(np.asarray(constrained["kl"]) <= config.delta)  # every seed, every iteration
    constrained = {name: np.asarray(value).mean(axis=0) for name, value in constrained.items()}
    unconstrained = {name: np.asarray(value).mean(axis=0) for name, value in unconstrained.items()}
    assert set(constrained) == set(TRAINING_METRICS)
    random_return, random_cost = random_policy_return(env, params, jax.random.key(9))
    assert random_cost > LIMIT + 0.5  # random recommendation violates the limit
    # Unconstrained CPO (all TRPO steps) learns to chase popular hits and pays far above the limit.
    assert np.all(unconstrained["case"] == 3)
    assert tail_mean(unconstrained, "episode_return") > random_return + 1.0
    assert tail_mean(unconstrained, "episode_cost") > LIMIT + 2.0
    # Constrained CPO ends within the limit and still beats random recommendation's return.
    assert tail_mean(constrained, "episode_cost") <= LIMIT + COST_TOLERANCE
    assert tail_mean(constrained, "episode_return") > random_return + 0.2


@pytest.mark.slow
def test_ppo_lagrangian_learns_within_the_cost_limit(world):
    env, params = world
    config = CPOConfig(algorithm="ppo-lag", iterations=150, hidden=(32, 32))
    train = jax.jit(make_train(config, env, params))
    _, constrained = train(jax.random.key(1), LIMIT)
    _, unconstrained = train(jax.random.key(1), jnp.inf)
    random_return, _ = random_policy_return(env, params, jax.random.key(9))
    assert tail_mean(unconstrained, "episode_cost") > LIMIT + 2.0
    assert tail_mean(constrained, "episode_cost") <= LIMIT + COST_TOLERANCE
    assert tail_mean(constrained, "episode_return") > random_return + 0.2


def test_seeds_batched_match_seeds_alone(world):
    env, params = world
    config = CPOConfig(algorithm="cpo", iterations=3, hidden=(16,), cg_iterations=5)
    train = make_train(config, env, params)
    keys = jax.random.split(jax.random.key(5), 3)
    limits = jnp.array([0.5, 1.0, jnp.inf])
    batched_state, batched = jax.jit(jax.vmap(train))(keys, limits)
    alone = jax.jit(train)
    for i in range(3):
        state, metrics = alone(keys[i], limits[i])
        for name in TRAINING_METRICS:
            np.testing.assert_allclose(
                np.asarray(batched[name][i], np.float64),
                np.asarray(metrics[name], np.float64),
                rtol=1e-4,
                atol=1e-5,
                err_msg=name,
            )
        chex.assert_trees_all_close(
            jax.tree.map(lambda x, i=i: x[i], batched_state.policy),
            state.policy,
            rtol=1e-4,
            atol=1e-5,
        )


def test_evaluate_hits_are_targets_and_items_distinct(world):
    env, params = world
    config = CPOConfig(hidden=(16,))
    policy = GaussianPolicy(DIM, config.hidden).init(
        jax.random.key(0), jnp.zeros((1, env.history_len, DIM))
    )
    items, hits, n_relevant = jax.jit(lambda p: evaluate_policy(p, config, env, params))(policy)
    items, hits = np.asarray(items), np.asarray(hits)
    assert items.shape == hits.shape == (N_USERS, HORIZON)
    assert all(len(set(row)) == HORIZON for row in items)
    targets = np.asarray(params.targets)
    np.testing.assert_array_equal(hits, np.take_along_axis(targets, items, axis=1))
    np.testing.assert_array_equal(np.asarray(n_relevant), targets.sum(axis=1))


def test_config_validation():
    with pytest.raises(ConfigError, match="algorithm"):
        CPOConfig(algorithm="sac")
    with pytest.raises(ConfigError, match="iterations"):
        CPOConfig(iterations=0)
    with pytest.raises(ConfigError, match="cost_limit"):
        CPOConfig(cost_limit=-1.0)
    for gain in ("cost_margin_lr", "multiplier_lr", "multiplier_kp", "multiplier_kd"):
        with pytest.raises(ConfigError, match=gain):
            CPOConfig(**{gain: -0.1})


def test_protocol_metrics_match_numpy():
    rng = np.random.default_rng(0)
    users, steps, n_items = 6, 8, 10
    items = np.stack([rng.permutation(n_items)[:steps] for _ in range(users)]).astype(np.int32)
    hits = rng.random((users, steps)) < 0.4
    n_relevant = hits.sum(1) + rng.integers(0, 3, users)
    is_head = np.arange(n_items) < 3
    out = protocol_metrics(
        jnp.asarray(items),
        jnp.asarray(hits),
        jnp.asarray(n_relevant),
        jnp.asarray(is_head),
        ks=(3, 8),
    )
    for k in (3, 8):
        p = hits[:, :k].sum(1) / k
        r = np.where(n_relevant > 0, hits[:, :k].sum(1) / np.maximum(n_relevant, 1), 0.0)
        dcg = (hits[:, :k] / np.log2(np.arange(2, k + 2))).sum(1)
        idcg = np.array([(1 / np.log2(np.arange(2, min(n, k) + 2))).sum() for n in n_relevant])
        counts = np.sort(np.bincount(items[:, :k].ravel(), minlength=n_items)).astype(float)
        gini_ref = np.sum((2 * np.arange(1, n_items + 1) - n_items - 1) * counts) / (
            n_items * counts.sum()
        )
        expected = {
            "precision": p.mean(),
            "recall": r.mean(),
            "f1": 2 * p.mean() * r.mean() / (p.mean() + r.mean()),
            "ndcg": np.mean(np.where(idcg > 0, dcg / np.where(idcg > 0, idcg, 1), 0.0)),
            "gini": gini_ref,
            "pop_rate": is_head[items[:, :k]].mean(),
        }
        for name, value in expected.items():
            assert float(out[f"{name}@{k}"]) == pytest.approx(value, rel=1e-5, abs=1e-6), name


@pytest.mark.slow  # ~15 s: two compiles
def test_train_in_chunks_equals_train_at_once(world):
    env, params = world
    config = CPOConfig(algorithm="cpo", iterations=4, hidden=(16,), cg_iterations=5)
    train = make_train(config, env, params)
    key = jax.random.key(3)
    state, metrics = jax.jit(train)(key, 1.0)
    iterate = jax.jit(train.iterate, static_argnums=1)
    runner = train.init(key)
    chunks = []
    for _ in range(2):
        runner, chunk = iterate(runner, 2, 1.0)
        chunks.append(chunk)
    for name in TRAINING_METRICS:
        np.testing.assert_allclose(
            np.concatenate([np.asarray(c[name], np.float64) for c in chunks]),
            np.asarray(metrics[name], np.float64),
            rtol=1e-5, atol=1e-6, err_msg=name,
        )  # fmt: skip
    chex.assert_trees_all_close(runner.policy, state.policy, rtol=1e-5, atol=1e-6)


def test_cost_margin_integrates_the_violation(world):
    """The learned margin follows m <- max(0, m + lr (J_C - d)) on the logged episode costs
    (a NumPy recurrence), stays 0 when off, and never moves for an infinite limit."""
    env, params = world
    lr = 0.5
    config = CPOConfig(
        algorithm="cpo", iterations=6, hidden=(16,), cg_iterations=5, cost_margin_lr=lr
    )
    train = jax.jit(jax.vmap(make_train(config, env, params)))
    limits = jnp.array([0.5, 3.0, jnp.inf])
    _, metrics = train(jax.random.split(jax.random.key(2), 3), limits)
    cost, margin = np.asarray(metrics["episode_cost"]), np.asarray(metrics["cost_margin"])
    for row, limit in enumerate([0.5, 3.0]):
        expected, m = [], 0.0
        for c in cost[row]:
            m = max(0.0, m + lr * (c - limit))
            expected.append(m)
        np.testing.assert_allclose(margin[row], expected, rtol=1e-5, atol=1e-6)
    assert margin[0, -1] > 0  # random recommendation exceeds a limit of 0.5
    np.testing.assert_array_equal(margin[2], 0.0)


def test_evaluate_samples_the_policy_or_acts_by_its_mean(world):
    env, params = world
    config = CPOConfig(hidden=(16,))
    policy = GaussianPolicy(DIM, config.hidden).init(
        jax.random.key(0), jnp.zeros((1, env.history_len, DIM))
    )
    run = jax.jit(lambda p, key: evaluate_policy(p, config, env, params, "sample", key)[0])
    first, again = run(policy, jax.random.key(1)), run(policy, jax.random.key(1))
    np.testing.assert_array_equal(first, again)  # one key, one rollout
    assert np.any(np.asarray(first) != np.asarray(run(policy, jax.random.key(2))))
    # the mean action's first item is the top of e_i . mean(initial history) (nothing blocked)
    mean_items = np.asarray(evaluate_policy(policy, config, env, params, "mean")[0])
    embeddings = np.asarray(params.item_embeddings)
    mean, _ = GaussianPolicy(DIM, config.hidden).apply(policy, embeddings[params.initial])
    np.testing.assert_array_equal(mean_items[:, 0], np.argmax(np.asarray(mean) @ embeddings.T, 1))
    with pytest.raises(ConfigError, match="test_action"):
        evaluate_policy(policy, config, env, params, "greedy")


@pytest.mark.slow  # ~1 min on a quiet 2-core CPU: 150 CPO iterations x 2 seeds
def test_trained_cpo_holds_its_limit_at_test(world):
    """The policy CPO trained under a limit of d per episode recommends at most d / T popular
    items per step at test, on held-out targets (so the states the hits lead to differ from
    training), acting as `jaxrec train` scores it (sampled actions)."""
    env, params = world
    wide = tiny_fcpo_params(jax.random.key(0), N_USERS, N_ITEMS, DIM, n_targets=16)
    held_out = params.replace(targets=wide.targets & ~params.targets)
    assert not np.any(np.asarray(held_out.targets & params.targets))
    config = CPOConfig(algorithm="cpo", iterations=150, hidden=(32, 32), cost_margin_lr=0.05)
    train = jax.jit(jax.vmap(make_train(config, env, params), in_axes=(0, None)))
    runner, _ = train(jax.random.split(jax.random.key(1), 2), LIMIT)
    items, _, _ = jax.jit(jax.vmap(lambda p: evaluate_policy(p, config, env, held_out)))(
        runner.policy
    )
    pop_rate = float(np.asarray(params.is_head)[np.asarray(items)].mean())
    assert pop_rate <= LIMIT / HORIZON + 0.02
