"""The platform env: NumPy parity (step and stages), compile-once, batching, long horizons."""

from __future__ import annotations

import inspect
from operator import attrgetter
from types import SimpleNamespace

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrec.agents import GreedyPolicy, MostPopularPolicy, RandomPolicy
from jaxrec.data import synthetic_world
from jaxrec.envs import (
    STEP_METRICS,
    PlatformEnv,
    init_carry,
    make_rollout,
    platform_item_stages,
    platform_stages,
    reference_item_stages,
    reference_stages,
)
from jaxrec.envs.platform_item_stages import ItemDrift
from jaxrec.envs.platform_stages import ExposureTally, push_history
from jaxrec.envs.reference import reference_step
from jaxrec.errors import ConfigError

N_USERS, N_ITEMS, SLATE = 12, 48, 4


@pytest.fixture(scope="module")
def world():
    return synthetic_world(3, n_users=N_USERS, n_items=N_ITEMS, n_producers=6, dim=8)


def stressed_params(env, world, choice_model):
    """Every dynamic switched on, at rates that make each one fire within a few steps."""
    return env.default_params(
        world,
        choice_model=choice_model,
        popularity_beta=1.0,
        item_retire_prob=0.05,
        item_arrival_prob=0.3,
        temper_init=1.0,
        temper_step_cost=1.5,
        user_arrival_prob=0.5,
        producer_window=3,
        producer_exit_threshold=0.6,
        superstar_exit_step=7,
        relabel_every=2,
        relabel_hysteresis=0.1,
        cost_head_exposure=0.5,
        max_steps=12,
    )


def random_slates(rng, n_users, n_items, k):
    return np.stack([rng.choice(n_items, size=k, replace=False) for _ in range(n_users)])


@pytest.mark.parametrize("choice_model", [0, 1], ids=["independent", "multinomial"])
def test_transition_matches_numpy_reference(world, choice_model):
    env = PlatformEnv(n_users=N_USERS, slate_size=SLATE, history_len=3, seen_window=2, log_steps=3)
    params = stressed_params(env, world, choice_model)
    _, state = env.reset(jax.random.key(0), params)
    transition = jax.jit(env.transition)
    sample = jax.jit(env.sample_noise)
    rng = np.random.default_rng(1)
    key = jax.random.key(2)
    fired = {"terminated": 0, "arrivals": 0, "producer_exit": 0, "clicks": 0}
    for _ in range(14):
        key, noise_key = jax.random.split(key)
        noise = sample(noise_key, params)
        slate = random_slates(rng, N_USERS, N_ITEMS, SLATE)
        slate[rng.random(slate.shape) < 0.1] = -1  # some empty positions
        _, new_state, reward, cost, terminated, truncated, _ = transition(
            state, jnp.asarray(slate), noise, params
        )
        expected, ref_reward, ref_cost, ref_terminated, ref_truncated = reference_step(
            state, slate, noise, params, history_len=3, seen_window=2, log_steps=3
        )
        np.testing.assert_allclose(reward, ref_reward, rtol=1e-5)
        np.testing.assert_allclose(cost, ref_cost, rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(terminated, ref_terminated)
        np.testing.assert_array_equal(truncated, ref_truncated)
        for name, value in vars(new_state).items():
            np.testing.assert_allclose(
                np.asarray(value), expected[name], rtol=2e-5, atol=2e-5, err_msg=name
            )
        fired["terminated"] += int(terminated.sum())
        fired["arrivals"] += int((new_state.item_arrival_step == new_state.step).sum())
        fired["producer_exit"] += int((~new_state.producer_active).sum())
        fired["clicks"] += int(reward.sum())
        state = new_state
    # The stressed parameters must actually exercise each dynamic the parity covers.
    assert all(count > 0 for count in fired.values()), fired


# the step entered, per seed: window ends (3, 6, 9), superstar exit (7), relabels (4, 6), none (5)
STAGE_STEPS = (3, 7, 4, 6, 9, 5)


def stage_inputs(env, world, seed):
    """Random JAX inputs for every stage, within its contract (e.g. clicks only where shown)."""
    rng = np.random.default_rng(seed)
    u, k, m, d, p = N_USERS, SLATE, N_ITEMS, world.dim, world.n_producers
    params = stressed_params(env, world, choice_model=seed % 2)
    _, state = env.reset(jax.random.key(seed), params)
    step_next = STAGE_STEPS[seed]

    def uniform(*shape, low=0.0, high=1.0):
        return rng.uniform(low, high, shape).astype(np.float32)

    def coin(shape, prob):
        return rng.random(shape) < prob

    state = state.replace(
        step=np.int32(step_next - 1),
        user_active=coin(u, 0.8),
        user_temper=uniform(u, low=-1.0, high=3.0),
        user_history=rng.integers(-1, m, (u, 3)),
        user_recent_shown=rng.integers(-1, m, (u, 2 * k)),
        user_steps=rng.integers(0, 20, u),
        item_alive=coin(m, 0.85),
        item_is_head=coin(m, 0.3),
        item_popularity=np.round(rng.gamma(1.0, 2.0, m), 1).astype(np.float32),  # with ties
        item_age=uniform(m, high=300.0),
        item_first_impression_step=np.where(coin(m, 0.5), -1, rng.integers(0, 5, m)),
        producer_active=coin(p, 0.8),
        producer_exposure=uniform(p, high=50.0),
        producer_window_exposure=uniform(p, high=10.0),
        group_exposure=uniform(2, high=100.0),
        label_history=coin((env.label_history, m), 0.3),
    )
    slate = random_slates(rng, u, m, k)
    slate[coin(slate.shape, 0.1)] = -1
    shown = (slate >= 0) & coin(slate.shape, 0.8)
    clicks = shown & coin(slate.shape, 0.3)
    alive = coin(m, 0.8)
    inputs = SimpleNamespace(
        state=state,
        params=params,
        noise=env.sample_noise(jax.random.key(100 + seed), params),
        slate=slate,
        shown=shown,
        clicks=clicks,
        exposure=np.where(shown, uniform(u, k, low=0.1), 0.0).astype(np.float32),
        user_factors=rng.normal(size=(u, d)).astype(np.float32),
        temper=uniform(u, low=-1.0, high=3.0),
        terminated=coin(u, 0.3) & state.user_active,
        n_clicks=clicks.sum(axis=1).astype(np.float32),
        step_next=np.int32(step_next),
        alive=alive,
        arrived=~alive & coin(m, 0.3),
        popularity=np.round(rng.gamma(1.0, 2.0, m), 1).astype(np.float32),
        producer_active=coin(p, 0.8),
        producer_items=rng.integers(0, 10, p).astype(np.float32),
        drift=ItemDrift(uniform(m, high=5.0), uniform(m), uniform(m), uniform(m), coin(m, 0.8)),
        tally=ExposureTally(*(uniform(n) for n in (m, m, m, p, 2)), rng.integers(-1, 5, m)),
    )
    return SimpleNamespace(**jax.tree.map(jnp.asarray, vars(inputs)))


# stage name -> the stage's arguments, as paths into stage_inputs' namespace
STAGES = {
    "shown_items": "slate state.item_alive state.user_active",
    "item_logit_offset": "state params",
    "choose_clicks": "state slate shown noise params",
    "score_slates": "slate shown clicks state.item_is_head params",
    "tally_exposure": "state slate shown clicks exposure",
    "drift_tastes": "user_factors state.item_factors slate clicks params.taste_drift",
    "remember": "state.user_history state.user_recent_shown slate shown clicks",
    "lose_patience": "state.user_temper state.user_active n_clicks params",
    "turn_over_users": "state user_factors state.user_history state.user_recent_shown temper "
    "terminated noise params",
    "write_log": "state slate shown clicks",
    "evolve_items": "state tally.item_clicks tally.item_exposure noise params",
    "producer_exits": "state tally.producer_exposure alive step_next params",
    "item_arrivals": "state drift tally producer_active producer_items step_next noise params",
    "relabel": "state popularity alive arrived step_next params",
}


def named_outputs(out, prefix="out"):
    """A stage's output (array, tuple, NamedTuple or namespace) as {dotted name: NumPy array}."""
    if isinstance(out, SimpleNamespace):
        items = vars(out).items()
    elif hasattr(out, "_asdict"):
        items = out._asdict().items()
    elif isinstance(out, tuple):
        items = ((str(i), value) for i, value in enumerate(out))
    else:
        return {prefix: np.asarray(out)}
    return {
        key: value
        for name, part in items
        for key, value in named_outputs(part, f"{prefix}.{name}").items()
    }


@pytest.fixture(scope="module")
def stage_input_sets(world):
    env = PlatformEnv(n_users=N_USERS, slate_size=SLATE, history_len=3, seen_window=2, log_steps=3)
    return [stage_inputs(env, world, seed) for seed in range(len(STAGE_STEPS))]


@pytest.mark.parametrize("name", list(STAGES))
def test_each_stage_matches_its_numpy_mirror(stage_input_sets, name):
    """Every stage alone, on random inputs, against the loop-based NumPy stage of the same name."""
    jax_stage = getattr(platform_stages, name, None) or getattr(platform_item_stages, name)
    numpy_stage = getattr(reference_stages, name, None) or getattr(reference_item_stages, name)
    for seed, inputs in enumerate(stage_input_sets):
        args = [attrgetter(path)(inputs) for path in STAGES[name].split()]
        got, want = named_outputs(jax_stage(*args)), named_outputs(numpy_stage(*args))
        assert got.keys() == want.keys(), (name, seed)
        for key, value in got.items():
            assert value.shape == want[key].shape, (key, seed)
            if np.issubdtype(value.dtype, np.floating):
                np.testing.assert_allclose(
                    value, want[key], rtol=2e-5, atol=2e-5, err_msg=f"{key}, seed {seed}"
                )
            else:
                np.testing.assert_array_equal(value, want[key], err_msg=f"{key}, seed {seed}")


def test_every_stage_is_mirrored_and_compared():
    """A stage function added without a case in STAGES fails here (random draws, helpers aside)."""
    for module in (platform_stages, platform_item_stages):
        functions = inspect.getmembers(module, inspect.isfunction)
        names = {name for name, f in functions if f.__module__ == module.__name__}
        assert names - {"sample_noise", "push_history", "head_labels"} <= set(STAGES)


def test_push_history_matches_python():
    rng = np.random.default_rng(0)
    history = np.full((20, 4), -1)
    for _ in range(6):
        new = np.where(rng.random((20, 3)) < 0.4, rng.integers(0, 50, (20, 3)), -1)
        got = np.asarray(push_history(jnp.asarray(history), jnp.asarray(new)))
        for row in range(20):
            merged = [i for i in history[row] if i >= 0] + [i for i in new[row] if i >= 0]
            kept = merged[-4:]
            assert list(got[row]) == [-1] * (4 - len(kept)) + kept
        history = got


def test_rollout_traces_once_for_new_params_and_vmapped_params(world):
    env = PlatformEnv(n_users=N_USERS, slate_size=SLATE)
    policy = GreedyPolicy(env)
    rollout = make_rollout(env, policy, n_steps=5)
    params = env.default_params(world)

    @jax.jit
    @chex.assert_max_traces(n=1)
    def run(key, env_params):
        return rollout(init_carry(env, key, env_params), env_params, policy.init_params())[1]

    for beta in (0.0, 0.5, 2.0):
        run(jax.random.key(0), env.replace_params(params, popularity_beta=beta))

    @jax.jit
    @chex.assert_max_traces(n=1)
    def run_grid(key, betas):
        grid = jax.vmap(lambda b: params.replace(popularity_beta=b))(betas)
        return jax.vmap(lambda p: run_unjitted(key, p))(grid)

    def run_unjitted(key, env_params):
        return rollout(init_carry(env, key, env_params), env_params, policy.init_params())[1]

    out = run_grid(jax.random.key(0), jnp.array([0.0, 0.5, 2.0]))
    run_grid(jax.random.key(1), jnp.array([1.0, 1.5, 3.0]))
    # the vmapped grid equals the points run one by one
    single = run(jax.random.key(0), env.replace_params(params, popularity_beta=2.0))
    np.testing.assert_allclose(out["exposure_gini"][2], single["exposure_gini"], rtol=1e-5)


def test_world_alone_equals_world_in_batch(world):
    env = PlatformEnv(n_users=N_USERS, slate_size=SLATE)
    policy = RandomPolicy(env)
    params = env.default_params(world)
    rollout = make_rollout(env, policy, n_steps=20)

    def run(key):
        return rollout(init_carry(env, key, params), params, policy.init_params())[1]

    keys = jax.random.split(jax.random.key(7), 5)
    batched = jax.jit(jax.vmap(run))(keys)
    alone = jax.jit(run)(keys[3])
    for name in STEP_METRICS:
        np.testing.assert_allclose(batched[name][3], alone[name], rtol=1e-6, err_msg=name)


def test_long_horizon_stays_finite_and_bounded(world):
    env = PlatformEnv(n_users=N_USERS, slate_size=SLATE, seen_window=1)
    policy = MostPopularPolicy(env)
    params = env.default_params(world, item_retire_prob=0.01, item_arrival_prob=0.05)
    rollout = jax.jit(make_rollout(env, policy, n_steps=3000))
    (_, state, _), metrics = rollout(
        init_carry(env, jax.random.key(0), params), params, policy.init_params()
    )
    for name, value in metrics.items():
        assert np.all(np.isfinite(value)), name
    for name, value in vars(state).items():
        if jnp.issubdtype(value.dtype, jnp.floating):
            assert np.all(np.isfinite(value)), name
    assert np.all(np.asarray(metrics["exposure_gini"]) <= 1.0)
    assert np.all(np.linalg.norm(state.user_factors, axis=1) < 10.0)


def test_rollout_memory_is_flat_in_the_horizon(world):
    """XLA's scratch memory for 10,000 steps equals that for 100 (only the scalar outputs grow)."""
    env = PlatformEnv(n_users=N_USERS, slate_size=SLATE)
    policy = GreedyPolicy(env)
    params = env.default_params(world)
    carry = init_carry(env, jax.random.key(0), params)
    sizes = {}
    for n_steps in (100, 10_000):
        compiled = (
            jax.jit(make_rollout(env, policy, n_steps))
            .lower(carry, params, policy.init_params())
            .compile()
        )
        sizes[n_steps] = compiled.memory_analysis().temp_size_in_bytes
    assert sizes[10_000] == sizes[100]


def test_most_popular_concentrates_exposure_and_random_spreads_it():
    """The Matthew effect: a popularity-ranked feed ends far more concentrated than random."""
    world = synthetic_world(0, n_users=64, n_items=200, n_producers=10, dim=8)
    env = PlatformEnv(n_users=64, slate_size=5)
    params = env.default_params(world)
    final = {}
    for name, policy in (("random", RandomPolicy(env)), ("popular", MostPopularPolicy(env))):
        rollout = jax.jit(make_rollout(env, policy, n_steps=150))
        _, metrics = rollout(
            init_carry(env, jax.random.key(0), params), params, policy.init_params()
        )
        gini = np.asarray(metrics["exposure_gini"])
        final[name] = (gini[:10].mean(), gini[-10:].mean())
    assert final["popular"][1] > final["popular"][0] + 0.05  # concentration rises over time
    assert final["random"][1] < final["random"][0]  # random spreads exposure out
    assert final["popular"][1] > final["random"][1] + 0.4


def test_bad_parameters_name_the_field(world):
    env = PlatformEnv(n_users=N_USERS, slate_size=SLATE)
    with pytest.raises(ConfigError, match=r"env\.popularity_betta: unknown parameter"):
        env.default_params(world, popularity_betta=1.0)
    with pytest.raises(ConfigError, match=r"env\.popularity_decay: must be <= 1"):
        env.default_params(world, popularity_decay=1.5)
    with pytest.raises(ConfigError, match=r"env\.head_fraction: must be finite"):
        env.default_params(world, head_fraction=float("nan"))
    with pytest.raises(ConfigError, match=r"env\.slate_size"):
        PlatformEnv(n_users=N_USERS, slate_size=N_ITEMS + 1).default_params(world)
    with pytest.raises(ConfigError, match=r"world\.user_factors"):
        PlatformEnv(n_users=N_USERS + 1, slate_size=SLATE).default_params(world)
    with pytest.raises(ConfigError, match=r"env\.n_users"):
        PlatformEnv(n_users=0)
    with pytest.raises(ConfigError, match=r"env\.examination"):
        env.replace_params(env.default_params(world), examination=np.ones(SLATE + 1))


def test_action_mask_blocks_exactly_history_seen_and_dead_items(world):
    env = PlatformEnv(n_users=N_USERS, slate_size=SLATE, history_len=3, seen_window=1)
    obs, _ = env.reset(jax.random.key(0), env.default_params(world))
    rng = np.random.default_rng(3)
    history = rng.integers(-1, N_ITEMS, (N_USERS, 3))
    shown = rng.integers(-1, N_ITEMS, (N_USERS, SLATE))
    alive = rng.random(N_ITEMS) < 0.8
    obs = obs.replace(
        user_history=jnp.asarray(history, jnp.int32),
        user_recent_shown=jnp.asarray(shown, jnp.int32),
        item_alive=jnp.asarray(alive),
    )
    mask = np.asarray(env.action_mask(obs))
    for user in range(N_USERS):
        blocked = {i for i in [*history[user], *shown[user]] if i >= 0}  # -1 is padding
        expected = [alive[i] and i not in blocked for i in range(N_ITEMS)]
        assert mask[user].tolist() == expected


def test_greedy_policy_matches_the_numpy_reference_oracle(world):
    from jaxrec.envs.reference import reference_greedy_slates

    env = PlatformEnv(n_users=N_USERS, slate_size=SLATE, history_len=3)
    params = env.default_params(world)
    policy = GreedyPolicy(env)
    obs, state = env.reset(jax.random.key(0), params)
    step = jax.jit(env.step)
    for t in range(4):
        slate = policy.act(jax.random.key(t), obs, state, params, policy.init_params())
        np.testing.assert_array_equal(slate, reference_greedy_slates(state, params, SLATE))
        obs, state, *_ = step(jax.random.key(10 + t), state, slate, params)
    assert (state.user_history >= 0).any()  # later steps masked real click histories
