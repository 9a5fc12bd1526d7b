"""The environments satisfy the interfaces the rollout and the trainer are typed with."""

from __future__ import annotations

import inspect

import pytest

from jaxrec.agents.platform_cpo import PlatformAgentEnv
from jaxrec.envs import (
    AutoReset,
    Environment,
    EpisodeStats,
    FCPOEnv,
    PlatformEnv,
    VectorActionEnvironment,
)


def _positional(method) -> list[str]:
    return [p for p in inspect.signature(method).parameters if p != "self"]


@pytest.mark.parametrize("cls", [PlatformEnv, FCPOEnv, PlatformAgentEnv, AutoReset, EpisodeStats])
def test_reset_and_step_take_the_protocol_arguments(cls):
    assert len(_positional(cls.reset)) == len(_positional(Environment.reset)) == 2
    assert len(_positional(cls.step)) == len(_positional(Environment.step)) == 4


def test_instances_satisfy_the_protocols():
    platform = PlatformEnv(n_users=4, slate_size=2)
    fcpo = FCPOEnv(n_users=4, n_items=6, dim=3, episode_len=5)
    agent_env = PlatformAgentEnv(platform, 3, 5, 0)
    for env in (platform, fcpo, agent_env, AutoReset(platform), EpisodeStats(platform)):
        assert isinstance(env, Environment)
    for env in (fcpo, agent_env):  # the two the CPO trainer runs on
        assert isinstance(env, VectorActionEnvironment)
    assert not isinstance(platform, VectorActionEnvironment)  # slates, not action vectors
