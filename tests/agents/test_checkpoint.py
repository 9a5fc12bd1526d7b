"""Orbax agent checkpoints: a reloaded agent evaluates to exactly the metrics of the saved one."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from jaxrec.agents.checkpoint import load_agent, save_agent
from jaxrec.agents.train import CPOConfig, evaluate_policy, make_train, protocol_metrics
from jaxrec.envs.fcpo import FCPOEnv, tiny_fcpo_params
from jaxrec.errors import DataFormatError


def test_reloaded_agent_gives_identical_metrics(tmp_path):
    env = FCPOEnv(16, 24, 4, episode_len=8)
    params = tiny_fcpo_params(jax.random.key(0), 16, 24, 4)
    config = CPOConfig(iterations=2, hidden=(8,), critic_steps=2, cg_iterations=3)
    runner, _ = jax.jit(make_train(config, env, params))(jax.random.key(1))

    @jax.jit
    def metrics(policy):
        items, hits, n_relevant = evaluate_policy(policy, config, env, params)
        return protocol_metrics(items, hits, n_relevant, params.is_head, (5,))

    save_agent(tmp_path / "agent", runner.policy, config, note="tiny")
    policy, loaded_config, metadata = load_agent(tmp_path / "agent")
    assert loaded_config == config and metadata == {"note": "tiny"}
    for leaf, saved in zip(jax.tree.leaves(policy), jax.tree.leaves(runner.policy), strict=True):
        np.testing.assert_array_equal(leaf, saved)
    expected, got = metrics(runner.policy), metrics(policy)
    for name in expected:
        assert float(got[name]) == float(expected[name])
    assert not list(tmp_path.glob("**/*.tmp"))  # nothing half-written is left behind


def test_loading_a_folder_without_an_agent_names_it(tmp_path):
    with pytest.raises(DataFormatError, match="no saved agent"):
        load_agent(tmp_path)
