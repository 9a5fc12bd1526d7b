"""Continuing multi-world training on the platform and the long-run serving of every method:
folded worlds against single worlds, the served-slate cost against its definition, worlds carried
between iterations, and the re-rankers' head items per slate against their quotas."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrec.agents.platform_cpo import PlatformAgentEnv
from jaxrec.agents.platform_train import (
    AGENT_SCORES,
    FAIRCO,
    FROZEN,
    PLAIN,
    POPULAR_SCORES,
    QUOTA,
    RANDOM_SCORES,
    Serving,
    WorldsAgentEnv,
    long_run_record,
    serve_long_run,
    serve_online,
    trajectory_bytes,
)
from jaxrec.agents.train import CPOConfig, make_train
from jaxrec.agents.train_stages import RunnerState
from jaxrec.data.synthetic import synthetic_world
from jaxrec.envs.platform import PlatformEnv
from jaxrec.errors import ConfigError

U, M, D, K, W = 8, 40, 4, 5, 3


@pytest.fixture(scope="module")
def envs():
    platform = PlatformEnv(n_users=U, slate_size=K, history_len=3)
    params = platform.default_params(
        synthetic_world(0, n_users=U, n_items=M, n_producers=4, dim=D),
        relabel_every=3,
        temper_init=0.0,  # users churn, so some slots are empty and the cost rescaling matters
        user_arrival_prob=0.3,
    )
    base = PlatformAgentEnv(platform, D, episode_len=4, burn_in=2)
    return base, WorldsAgentEnv(base, W), params


def test_folded_worlds_equal_single_worlds(envs):
    """World w of the batch is the base env with world w's key: same histories and rewards; the
    batch's long-run record (costs rescaled per served slate) is :func:`long_run_record` on each
    world's own step (raw costs); :meth:`WorldsAgentEnv.world` gives back each world's own
    ``(obs, state)``."""
    base, worlds, params = envs
    key = jax.random.key(3)
    obs, state = jax.jit(worlds.reset)(key, params)
    rng = np.random.default_rng(0)
    action = jnp.asarray(rng.normal(size=(W * U, D + 1)), jnp.float32)
    slates = worlds.select(action, obs, params)
    step_key = jax.random.key(4)
    obs2, state2, reward, cost, *_, info = jax.jit(worlds.step)(step_key, state, slates, params)
    reset, select, step = jax.jit(base.reset), jax.jit(base.select), jax.jit(base.step)
    record, per_world = jax.jit(long_run_record), []
    for w, (wk, sk) in enumerate(
        zip(jax.random.split(key, W), jax.random.split(step_key, W), strict=True)
    ):
        o, s = reset(wk, params)
        np.testing.assert_allclose(obs.history[w * U : (w + 1) * U], o.history)
        jax.tree.map(np.testing.assert_array_equal, worlds.world((obs, state), w), (o, s))
        sl = select(action[w * U : (w + 1) * U], o, params)
        np.testing.assert_array_equal(slates[w * U : (w + 1) * U], sl)
        o2, s2, r, c, *_, inf = step(sk, s, sl, params)
        per_world.append(record(s, s2, r, c, inf))
        np.testing.assert_allclose(reward[w * U : (w + 1) * U], r)
        np.testing.assert_allclose(obs2.history[w * U : (w + 1) * U], o2.history)
        # cost per served slate: the world's mean cost is head items per served slate
        served = np.asarray(inf["served"])
        want = np.asarray(inf["head_in_slate"]).sum() / max(served.sum(), 1)
        np.testing.assert_allclose(np.mean(cost[w * U : (w + 1) * U]), want, rtol=1e-5)
    assert not np.asarray(info["served"]).all()  # the test covered empty slots
    got = jax.jit(worlds.record)(state, state2, reward, cost, info)
    for name, value in got.items():
        want = [float(one[name]) for one in per_world]
        np.testing.assert_allclose(value, want, rtol=1e-5, err_msg=name)


@pytest.fixture(scope="module")
def on_worlds(envs):
    """A CPO trainer on the ``W`` continuing worlds (recording the long run's series per world),
    its first runner, and two of its iterations as one compiled function ``two(runner, limit)``,
    shared by the tests below so that they compile it once."""
    _, worlds, params = envs
    config = CPOConfig(iterations=1, hidden=(8,), critic_steps=2, critic_batch=64)
    trainer = make_train(config, worlds, params, record=worlds.record)
    runner = trainer.init(jax.random.key(0), params)
    two = jax.jit(lambda runner, limit: trainer.iterate(runner, 2, limit, params))
    return trainer, runner, two


def test_continuing_training_carries_the_worlds(envs, on_worlds):
    """Two iterations advance the same worlds by two segments (no reset in between)."""
    _, worlds, _ = envs
    _, runner, two = on_worlds
    start = np.asarray(runner.world[1].step)
    np.testing.assert_array_equal(start, 2)  # burn-in
    runner, metrics = two(runner, 10.0)
    np.testing.assert_array_equal(np.asarray(runner.world[1].step), start + 2 * 4)
    assert np.all(np.isfinite(metrics["episode_cost"]))
    assert trajectory_bytes(worlds) == 4 * 4 * W * U * (3 * D + D + 1 + 6)
    with pytest.raises(ConfigError, match="n_worlds"):
        WorldsAgentEnv(worlds.base, 0)


def test_train_resets_the_worlds_from_the_params_it_is_given(envs, monkeypatch):
    """``train(key, limit, other)`` starts from ``init(key, other)``, not from worlds of the
    params given to ``make_train`` (the iterations are stubbed out: only the start is checked)."""
    _, worlds, params = envs
    other = worlds.base.platform.default_params(
        synthetic_world(1, n_users=U, n_items=M, n_producers=4, dim=D), relabel_every=3
    )
    train = make_train(CPOConfig(iterations=1, hidden=(8,)), worlds, params)
    monkeypatch.setattr(type(train), "iterate", lambda self, runner, *_: runner)
    key = jax.random.key(2)
    start = train(key, 1.0, other)
    jax.tree.map(np.testing.assert_array_equal, start.world, train.init(key, other).world)
    own = train.init(key, params).world[0].history
    assert not np.array_equal(start.world[0].history, own)


def test_long_run_serving_modes(envs):
    """Quota on live labels serves exactly round(ratio K) head items per served slate; the
    frozen quota does so at its first step (before any relabel); FairCo at gain 0 and the plain
    slates coincide (both serve the scores as they are)."""
    base, _, params = envs

    def scores(key, obs):
        return jax.random.normal(key, obs.mask.shape)

    def run(mode, ratio, gain):
        serving = Serving(jnp.int32(mode), jnp.float32(ratio), jnp.float32(gain))
        return serve_long_run(jax.random.key(1), base, params, scores, 12, serving)

    run = jax.jit(run)
    quota = run(QUOTA, 0.4, 0.0)
    np.testing.assert_allclose(quota["head_per_slate"], 2.0, rtol=1e-6)
    frozen = run(FROZEN, 0.4, 0.0)
    np.testing.assert_allclose(frozen["head_per_slate"][0], 2.0, rtol=1e-6)
    plain, fair0 = run(PLAIN, 0.4, 0.0), run(FAIRCO, 0.4, 0.0)
    np.testing.assert_allclose(plain["clicks"], fair0["clicks"])


def test_long_run_trivial_scorers(envs):
    """The most-popular scorer serves what an agent scoring by current popularity serves; the
    random scorer ignores the agent (two agents, one series) and is not the agent's own. The
    agent mixes noise and popularity by a traced weight, so one program serves every case."""
    base, _, params = envs

    @jax.jit
    def run(scorer, noise_weight):
        def scores(key, obs):
            popularity = jnp.broadcast_to(obs.platform.item_popularity, obs.mask.shape)
            noise = jax.random.normal(key, obs.mask.shape)
            return noise_weight * noise + (1 - noise_weight) * popularity

        serving = Serving(jnp.int32(PLAIN), jnp.float32(0.4), jnp.float32(0.0), scorer)
        return serve_long_run(jax.random.key(3), base, params, scores, 12, serving)

    by_popularity = run(AGENT_SCORES, 0.0)
    for name, series in run(POPULAR_SCORES, 1.0).items():
        np.testing.assert_allclose(series, by_popularity[name], err_msg=name)
    random_a, random_b = run(RANDOM_SCORES, 1.0), run(RANDOM_SCORES, 0.0)
    for name, series in random_a.items():
        np.testing.assert_allclose(series, random_b[name], err_msg=name)
    assert not np.allclose(random_a["clicks"], run(AGENT_SCORES, 1.0)["clicks"])


def test_online_serving_on_a_fresh_world(envs):
    """With ``fresh_world``, ``serve_online`` hands its trainer the world ``serve_long_run`` serves
    with the same key, a key of its own and enough whole segments, and cuts the per-step series to
    ``steps``, one row per world (the trainer is a stand-in that records its call: the updates
    themselves are checked on the training worlds below)."""
    base, _, params = envs
    one = WorldsAgentEnv(base, 1)

    class RecordingTrainer:
        env = one

        def iterate(self, runner, n_iterations, cost_limit, env_params):
            self.call = (runner, n_iterations, cost_limit)
            count = n_iterations * one.episode_len
            steps = jnp.arange(count, dtype=jnp.float32).reshape(n_iterations, -1, 1)
            return runner, {"steps": {"head_per_slate": steps}}

    trainer = RecordingTrainer()
    runner = RunnerState(*[None] * 7, key=jax.random.key(0))  # only its world and key are used
    key = jax.random.key(7)
    series = serve_online(key, trainer, runner, 4.0, params, 10)
    np.testing.assert_array_equal(series["head_per_slate"], np.arange(10)[None])
    handed, segments, limit = trainer.call
    assert (segments, limit) == (3, 4.0)  # 10 steps in segments of 4
    assert jax.random.key_data(handed.key).tolist() == (
        jax.random.key_data(jax.random.fold_in(key, 2)).tolist()
    )
    fresh = one.single(*base.reset(key, params))
    jax.tree.map(np.testing.assert_array_equal, handed.world, fresh)
    with pytest.raises(ConfigError, match="n_worlds"):
        WorldsAgentEnv(base, 2).single(*fresh)


def test_serving_a_world_where_it_is(envs, on_worlds):
    """``serve_long_run`` given a world serves it from where it is: given the fresh world its key
    draws, it serves what the fresh run serves; given a training world advanced by training, it
    serves that world, not a fresh one."""
    base, worlds, params = envs
    _, runner, two = on_worlds
    serving = Serving(jnp.int32(FAIRCO), jnp.float32(0.4), jnp.float32(1.0))

    def scores(key, obs):
        return jax.random.normal(key, obs.mask.shape)

    @jax.jit
    def run(key, world):
        return serve_long_run(key, base, params, scores, 6, serving, world)

    key = jax.random.key(5)
    fresh = jax.jit(lambda k: serve_long_run(k, base, params, scores, 6, serving))(key)
    given = run(key, jax.jit(base.reset)(key, params))
    for name, series in fresh.items():  # two programs: float sums may differ in order
        np.testing.assert_allclose(series, given[name], rtol=1e-5, err_msg=name)
    trained, _ = two(runner, 10.0)
    world = worlds.world(trained.world, 1)
    assert int(world[1].step) == 2 + 2 * 4  # burn-in and two training segments
    assert not np.allclose(run(key, world)["clicks"], fresh["clicks"])


def test_online_serving_on_the_training_worlds(envs, on_worlds):
    """With the training env, ``serve_online`` goes on training on the runner's own worlds:
    per-world series f32[W, steps] equal to the training iterations continued by hand, whose
    head items per slate make the episode cost each update was held to, and whose policy moved."""
    _, _, params = envs
    trainer, runner, two = on_worlds
    key = jax.random.key(8)
    series = jax.jit(lambda r: serve_online(key, trainer, r, 4.0, params, 7, False))(runner)
    assert series["head_per_slate"].shape == (W, 7)
    after, metrics = two(runner._replace(key=jax.random.fold_in(key, 2)), 4.0)
    steps = metrics["steps"]["head_per_slate"]  # [segments, T, W]
    np.testing.assert_allclose(series["head_per_slate"], steps.reshape(-1, W)[:7].T, rtol=1e-6)
    # each world's cost is its head items per served slate, so a segment's head items summed
    # over its steps and averaged over the worlds is the episode cost the update was held to
    np.testing.assert_allclose(steps.sum(axis=1).mean(axis=1), metrics["episode_cost"], rtol=1e-5)
    moved = jax.tree.map(lambda a, b: np.abs(np.asarray(a) - np.asarray(b)).max(), after.policy,
                         runner.policy)  # fmt: skip
    assert max(jax.tree.leaves(moved)) > 0  # the agent learned while it served
