"""Sweeps: one compiled program over grid x seeds, equal to runs one by one, resumable, errors named."""

from __future__ import annotations

import dataclasses
import json

import jax
import numpy as np
import pandas as pd
import pytest

from jaxrec.agents.baselines import make_policy
from jaxrec.data.synthetic import synthetic_world
from jaxrec.envs.platform import PlatformEnv
from jaxrec.envs.rollout import init_carry, make_rollout
from jaxrec.errors import ConfigError, DataFormatError, Interrupted
from jaxrec.sweep.engine import SweepProgram
from jaxrec.sweep.runner import load_metrics, run_sweep
from jaxrec.sweep.spec import EXAMPLE, parse_sweep

SMALL = """\
name = "tiny"
[world]
seed = 3
n_users = 16
n_items = 32
n_producers = 4
dim = 4
[env]
slate_size = 2
[policy]
name = "fairco"  # a policy with a memory: the carry, checkpoints and resume hold its state
gain = 100.0
[run]
steps = 20
chunk = 10
seeds = [0, 5]
log_every = 5
checkpoint_every = 1
[grid]
"env.popularity_beta" = [0.0, 1.5]
"policy.head_ratio" = [0.0, 1.0]
"""


@pytest.fixture(scope="module")
def spec():
    return parse_sweep(SMALL)


@pytest.fixture(scope="module")
def program(spec):
    return SweepProgram(spec)


@pytest.fixture(scope="module")
def uninterrupted(spec, program, tmp_path_factory):
    out = tmp_path_factory.mktemp("full")
    run_sweep(spec, out, progress=False, sweep_text=SMALL, program=program)
    return out, load_metrics(out)


def test_grid_is_cartesian_product_and_runs_are_points_x_seeds(spec, uninterrupted):
    _, frame = uninterrupted
    assert len(spec.points) == 4 and spec.n_runs == 8
    assert {(p["env.popularity_beta"], p["policy.head_ratio"]) for p in spec.points} == {
        (0.0, 0.0),
        (0.0, 1.0),
        (1.5, 0.0),
        (1.5, 1.0),
    }
    # tidy: one row per run and logging interval
    assert len(frame) == 8 * (20 // 5)
    assert sorted(frame["step"].unique()) == [5, 10, 15, 20]
    counts = frame.groupby(["point", "seed"]).size()
    assert len(counts) == 8 and (counts == 4).all()
    # FairCo's target share: 0 keeps head items out of the slates, 1 fills them
    no_head = frame[frame["policy.head_ratio"] == 0.0]
    all_head = frame[frame["policy.head_ratio"] == 1.0]
    assert no_head["head_share"].max() < all_head["head_share"].min()


def test_whole_grid_traces_once(spec, program, uninterrupted):
    carry = program.init()
    for _ in range(3):  # more chunks of the same length: still one trace, one program
        carry, _ = program.run_chunk(carry, spec.chunk)
    assert program.n_traces == 1


def test_batched_sweep_equals_each_run_alone(spec, uninterrupted):
    """Each run of the sweep equals the same point and seed run alone, unbatched, in one scan."""
    _, frame = uninterrupted
    env = PlatformEnv(**spec.env)
    world = synthetic_world(spec.world_seed, spec.world)
    base = env.default_params(world, **spec.params)
    policy = make_policy(spec.policy, env, **spec.policy_kwargs)
    rollout = make_rollout(env, policy, spec.steps)

    @jax.jit
    def alone(seed_key, env_params, policy_params):
        carry = init_carry(env, seed_key, env_params, policy, policy_params)
        return rollout(carry, env_params, policy_params)[1]

    for index, point in enumerate(spec.points):
        env_params = env.replace_params(base, popularity_beta=point["env.popularity_beta"])
        policy_params = make_policy(
            spec.policy, env, **{**spec.policy_kwargs, "head_ratio": point["policy.head_ratio"]}
        ).init_params()
        for seed in spec.seeds:
            metrics = alone(jax.random.key(seed), env_params, policy_params)
            rows = frame[(frame["point"] == index) & (frame["seed"] == seed)]
            for name, values in metrics.items():
                expected = np.asarray(values).reshape(-1, spec.log_every).mean(axis=1)
                np.testing.assert_allclose(rows[name], expected, rtol=1e-5, atol=1e-6, err_msg=name)


def test_resume_after_interruption_reproduces_the_uninterrupted_run(
    spec, program, uninterrupted, tmp_path
):
    _, full = uninterrupted
    run_sweep(spec, tmp_path, progress=False, max_chunks=1, program=program)
    assert not json.loads((tmp_path / "sweep.json").read_text())["complete"]
    run_sweep(spec, tmp_path, resume=True, progress=False, program=program)
    assert json.loads((tmp_path / "sweep.json").read_text())["complete"]
    pd.testing.assert_frame_equal(load_metrics(tmp_path), full)


def test_a_stop_request_checkpoints_at_the_chunk_boundary_and_resume_reproduces_the_run(
    spec, program, uninterrupted, tmp_path
):
    _, full = uninterrupted
    with pytest.raises(Interrupted, match="stopped at step 10 of 20"):
        run_sweep(spec, tmp_path, progress=False, program=program, should_stop=lambda: True)
    kept = load_metrics(tmp_path)
    assert kept["step"].max() == 10  # the finished chunk was written
    pd.testing.assert_frame_equal(kept, full[full["step"] <= 10].reset_index(drop=True))
    run_sweep(spec, tmp_path, resume=True, progress=False, program=program)
    pd.testing.assert_frame_equal(load_metrics(tmp_path), full)


def test_resume_refuses_a_different_sweep_and_reuse_needs_resume(spec, uninterrupted):
    out, _ = uninterrupted
    with pytest.raises(ConfigError, match=r"^out: .*--resume"):
        run_sweep(spec, out, progress=False)
    other = dataclasses.replace(spec, seeds=(0, 6))
    with pytest.raises(ConfigError, match=r"^sweep: .*different sweep file.*run"):
        run_sweep(other, out, resume=True, progress=False)


@pytest.mark.parametrize(
    ("patch", "field", "message"),
    [
        ('"env.no_such" = [1.0]', "grid.env.no_such", "unknown env parameter"),
        ('"policy.no_such" = [1.0]', "grid.policy.no_such", "no traced parameter"),
        ('"env.popularity_beta" = []', "grid.env.popularity_beta", "empty list"),
        ('"env.popularity_beta" = ["high"]', "grid.env.popularity_beta", "must be a number"),
        ('"env.popularity_decay" = [1.5]', "grid.env.popularity_decay", "<= 1"),
        ('"policy.head_ratio" = [2.0]', "grid.policy.head_ratio", r"\[0, 1\]"),
        ('"popularity_beta" = [1.0]', "grid.popularity_beta", "start with 'env.' or 'policy.'"),
    ],
)
def test_malformed_grid_names_the_key(patch, field, message):
    text = SMALL.split("[grid]")[0] + "[grid]\n" + patch + "\n"
    with pytest.raises(ConfigError, match=f"^{field}: .*{message}"):
        parse_sweep(text)


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("steps = 20", 'steps = "long"', "run.steps"),
        ("chunk = 10", "chunk = 0", "run.chunk"),
        ("log_every = 5", "log_every = 3", "run.log_every"),
        ("seeds = [0, 5]", "seeds = []", "run.seeds"),
        ("[env]", "[env]\nn_user = 3", "env.n_user"),
        ("[world]", "[world]\nn_itmes = 3", "world.n_itmes"),
        ("[run]", "[run]\nhorizon = 3", "run.horizon"),
        ('name = "tiny"', 'name = "tiny"\n[params]\nbeta = 1.0', "params.beta"),
    ],
)
def test_malformed_settings_name_the_key(old, new, field):
    with pytest.raises(ConfigError, match=f"^{field}: "):
        parse_sweep(SMALL.replace(old, new, 1))


def test_invalid_toml_names_the_file_and_line(tmp_path):
    from jaxrec.sweep.spec import load_sweep

    path = tmp_path / "bad.toml"
    path.write_text('name = "x"\n[run\nsteps = 1\n')
    with pytest.raises(DataFormatError, match=rf"^{path}:2: invalid TOML"):
        load_sweep(path)


def test_example_parses_and_describes_a_small_grid():
    example = parse_sweep(EXAMPLE)
    assert len(example.points) == 12 and example.n_runs == 36
    assert example.grid_keys == ("env.popularity_beta", "env.relabel_every", "policy.head_ratio")


def test_simulation_configs_and_sweep_files_share_one_schema_and_its_defaults():
    from jaxrec.experiments.config import parse_simulation_config

    minimal = (
        '[world]\nn_users = 8\nn_items = 20\nn_producers = 2\n[grid]\n"env.taste_drift" = [0.1]\n'
    )
    sweep = parse_sweep(minimal)
    simulation = parse_simulation_config({"world": {"n_users": 8, "n_items": 20, "n_producers": 2}})
    assert (sweep.policy, simulation.policy) == ("greedy", "greedy")
    assert sweep.steps == simulation.run["steps"] == 1000
    assert sweep.chunk == simulation.run["chunk"] == 100
    assert sweep.world_seed == simulation.world_seed == 0
    assert sweep.world == simulation.world
    # traced parameters sit in [env] for both
    text = minimal.replace("[grid]", "[env]\nslate_size = 3\ntaste_drift = 0.2\n[grid]")
    assert dict(parse_sweep(text).params) == {"taste_drift": 0.2}
    assert parse_simulation_config({"env": {"slate_size": 3, "taste_drift": 0.2}}).env_params == {
        "taste_drift": 0.2
    }


def test_the_old_params_table_still_works_with_a_deprecation_warning():
    new = parse_sweep(SMALL.replace("[env]\n", "[env]\ntaste_drift = 0.2\n", 1))
    with pytest.warns(DeprecationWarning, match=r"\[params\] table is now part of \[env\]"):
        old = parse_sweep(SMALL + "[params]\ntaste_drift = 0.2\n")
    assert old.to_dict() == new.to_dict()
    with pytest.raises(ConfigError, match=r"^params\.taste_drift: also set under"):
        parse_sweep(
            SMALL.replace("[env]\n", "[env]\ntaste_drift = 0.2\n", 1)
            + "[params]\ntaste_drift = 0.3\n"
        )


def test_env_users_beyond_the_worlds_pool_are_refused_in_both_config_kinds():
    from jaxrec.experiments.config import parse_simulation_config

    with pytest.raises(ConfigError, match=r"^env\.n_users: exceeds the world's 16 users"):
        parse_sweep(SMALL.replace("[env]\n", "[env]\nn_users = 17\n", 1))
    with pytest.raises(ConfigError, match=r"^env\.n_users: exceeds the world's 8 users"):
        parse_simulation_config({"world": {"n_users": 8}, "env": {"n_users": 9}})
