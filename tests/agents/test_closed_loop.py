"""Closed loop: retraining inside the rollout compiles once and equals training outside it."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrec.agents.closed_loop import init_loop_carry, make_closed_loop, order_explored_last
from jaxrec.agents.loop_scorer import LoopConfig, init_scorer, retrain, score_all
from jaxrec.agents.marketplace import EXAMPLE_POLICY_PATH, policy_from_dict
from jaxrec.data import synthetic_world
from jaxrec.envs import PlatformEnv
from jaxrec.errors import ConfigError
from jaxrec.models.fm import fm_logits

N_USERS, N_ITEMS, K, W = 16, 40, 3, 4


def clicks_only(state, reward, cost, terminated, info):
    return {"clicks": reward.sum()}


def run_two_chunks(scorer: str, rerank: bool, epsilon: float = 0.0):
    """Two W-step chunks of 2 worlds through one jitted program; the retrain is at step W."""
    world = synthetic_world(0, n_users=N_USERS, n_items=N_ITEMS, dim=4, n_producers=6)
    env = PlatformEnv(n_users=N_USERS, slate_size=K, log_steps=W)
    params = env.default_params(world, item_arrival_prob=0.1)
    config = LoopConfig(scorer=scorer, retrain_every=W, updates=5, batch_size=32, dim=4,
                        epsilon=epsilon, ips=epsilon > 0)  # fmt: skip
    traces = []

    def counted(*args):
        traces.append(1)
        return make_closed_loop(env, config, W, clicks_only, rerank=rerank)(*args)

    program = jax.jit(jax.vmap(counted, in_axes=(0, None, None, None)))
    keys = jax.random.split(jax.random.key(3), 2)
    carry0 = jax.vmap(lambda k: init_loop_carry(env, k, params, config))(keys)
    policy = policy_from_dict({"version": 1, "slate": {"max_per_producer": 1}})
    rerank_params = policy.params() if rerank else None
    carry1, metrics1 = program(carry0, params, rerank_params, jnp.int32(0))
    carry2, metrics2 = program(carry1, params, rerank_params, jnp.int32(W))
    return env, config, world, (carry0, carry1, carry2), (metrics1, metrics2), traces


@pytest.fixture(scope="module", params=["mf", "aafm"])
def two_chunks(request):
    """MF with exploration (and IPS-weighted retraining); AAFM with re-ranking."""
    if request.param == "mf":
        return run_two_chunks("mf", rerank=False, epsilon=0.5)
    return run_two_chunks("aafm", rerank=True)


def test_compiles_once_and_retrains_on_schedule(two_chunks):
    _, _, _, (carry0, carry1, carry2), (metrics1, metrics2), traces = two_chunks
    assert len(traces) == 1
    np.testing.assert_array_equal(metrics1["retrained"][0], [0, 0, 0, 0])
    np.testing.assert_array_equal(metrics2["retrained"][0], [1, 0, 0, 0])
    np.testing.assert_array_equal(carry2.learner.retrains, [1, 1])
    np.testing.assert_array_equal(carry2.learner.trained_at, [W, W])
    # no retrain in the first chunk: the scorer is still its initialisation
    jax.tree.map(np.testing.assert_array_equal, carry1.learner.params, carry0.learner.params)


def test_retraining_inside_equals_training_outside(two_chunks):
    _, config, world, (_, carry1, carry2), _, _ = two_chunks
    outside = jax.jit(
        jax.vmap(
            lambda learner, state, key: retrain(learner, state, key, world.n_pool_users, config)
        )
    )
    train_keys = jax.vmap(lambda key: jax.random.split(key, 4)[1])(carry1.key)
    expected = outside(carry1.learner, carry1.state, train_keys)
    jax.tree.map(
        lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6),
        carry2.learner.params,
        expected.params,
    )
    # and the update did something
    moved = jax.tree.map(
        lambda a, b: float(jnp.abs(a - b).max()), expected.params, carry1.learner.params
    )
    assert max(jax.tree.leaves(moved)) > 1e-4


def test_fm_scores_expand_the_pairwise_term_exactly():
    config = LoopConfig(scorer="fm", dim=5, init_scale=0.5)
    n_users, n_items, n_producers = 7, 9, 3
    params = init_scorer(jax.random.key(0), n_users, n_items, n_producers, config)
    params["fm"]["linear"] = jax.random.normal(jax.random.key(1), (5,))
    params["fm"]["bias"] = jnp.float32(0.3)
    producer = jnp.array([0, 1, 2, 0, 1, 2, 0, 1, 2])
    users = jnp.array([0, 3, 6])
    got = score_all(params, users, producer, n_users, config)
    u, i = np.meshgrid(np.asarray(users), np.arange(n_items), indexing="ij")
    ids = jnp.stack([u, n_users + i, n_users + n_items + np.asarray(producer)[i]], axis=-1)
    np.testing.assert_allclose(
        got, fm_logits(params["fm"], ids.reshape(-1, 3)).reshape(3, -1), rtol=1e-5, atol=1e-5
    )


def test_exploration_logs_propensities(two_chunks):
    _, config, _, (_, carry1, _), _, _ = two_chunks
    propensity = np.asarray(carry1.learner.propensity)  # [worlds, L, U, K]
    if config.epsilon == 0:
        assert np.all(propensity == 1.0)
        return
    # one draw per user: only the bottom position can hold an explored item, logged with
    # p = eps * E / n_allowed; a scorer item is logged with 1 - eps
    assert np.all(propensity[..., :-1] == 1.0 - config.epsilon)
    bottom = propensity[..., -1]
    explored = bottom != 1.0 - config.epsilon
    assert 0.2 < explored.mean() < 0.8
    assert np.all((bottom[explored] > 0) & (bottom[explored] < 0.05))


def test_explored_items_move_to_the_bottom():
    slate = jnp.array([[5, 6, 7, -1], [1, 2, 3, 4]])
    explored = jnp.array([[True, False, False, False], [False, True, False, True]])
    np.testing.assert_array_equal(
        order_explored_last(slate, explored), [[6, 7, 5, -1], [1, 3, 2, 4]]
    )


def test_bad_config_names_the_field():
    with pytest.raises(ConfigError, match=r"loop\.scorer"):
        LoopConfig(scorer="svd")
    with pytest.raises(ConfigError, match=r"loop\.epsilon"):
        LoopConfig(epsilon=1.5)
    world = synthetic_world(0, n_users=8, n_items=10, dim=2, n_producers=2)
    env = PlatformEnv(n_users=8, slate_size=2)
    with pytest.raises(ConfigError, match=r"env\.log_steps"):
        init_loop_carry(env, jax.random.key(0), env.default_params(world), LoopConfig())


def test_dashboard_embeds_plots_and_reports_alerts(tmp_path):
    import pandas as pd

    from jaxrec.experiments.dashboard import DASHBOARD_PLOTS, evaluate_alerts, write_dashboard
    from jaxrec.metrics.alerts import parse_rules
    from jaxrec.metrics.health import HEALTH_METRICS

    steps = np.arange(1, 11)
    frames = []
    for run_name, slope in (("mf", 0.05), ("mf+policy", 0.01)):
        for world in range(2):
            frame = pd.DataFrame({"run": run_name, "world": world, "step": steps})
            for metric in HEALTH_METRICS:
                frame[metric] = 0.1 + slope * steps + 0.01 * world
            frames.append(frame)
    frame = pd.concat(frames, ignore_index=True)
    rules = parse_rules([{"metric": "top1_share", "op": ">", "threshold": 0.3}])
    alerts = evaluate_alerts(frame, rules)
    # mean over worlds is 0.105 + slope * step: crosses 0.3 at step 4 (mf) and never (policy)
    assert alerts["mf"][0]["step"] == 4 and not alerts["mf+policy"][0]["fired"]
    producers = {"mf": np.array([5.0, 1.0, 0.0]), "mf+policy": np.array([2.0, 2.0, 2.0])}
    page = write_dashboard(frame, alerts, tmp_path, "test", producer_exposure=producers).read_text()
    assert page.count("data:image/png;base64,") == len(DASHBOARD_PLOTS) + 2
    assert "step 4" in page and "did not fire" in page


@pytest.mark.slow
def test_command_writes_the_outputs(tmp_path):
    from jaxrec.cli import main

    policy = EXAMPLE_POLICY_PATH
    argv = ["closed-loop", "--policy", str(policy), "--steps", "60", "--worlds", "2",
            "--users", "32", "--items", "80", "--producers", "8", "--slate", "4",
            "--retrain-every", "20", "--out", str(tmp_path), "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    for name in ("metrics.parquet", "alerts.json", "summary.json", "dashboard.html"):
        assert (tmp_path / name).exists()
