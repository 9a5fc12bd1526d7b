"""jaxrec.envs: the simulated platform as a functional constrained MDP, its wrappers and rollouts."""

from jaxrec.envs.environment import Environment, VectorActionEnvironment
from jaxrec.envs.fcpo import FCPOEnv, FCPOParams, FCPOSetup, FCPOState, fcpo_params, fcpo_setup
from jaxrec.envs.platform import PlatformEnv
from jaxrec.envs.platform_types import (
    CHOICE_INDEPENDENT,
    CHOICE_MULTINOMIAL,
    EnvParams,
    EnvState,
    Noise,
    Observation,
)
from jaxrec.envs.rollout import STEP_METRICS, init_carry, make_rollout, run_chunked, step_metrics
from jaxrec.envs.wrappers import AutoReset, EpisodeStats

__all__ = [
    "CHOICE_INDEPENDENT",
    "CHOICE_MULTINOMIAL",
    "STEP_METRICS",
    "AutoReset",
    "EnvParams",
    "EnvState",
    "Environment",
    "EpisodeStats",
    "FCPOEnv",
    "FCPOParams",
    "FCPOSetup",
    "FCPOState",
    "Noise",
    "Observation",
    "PlatformEnv",
    "VectorActionEnvironment",
    "fcpo_params",
    "fcpo_setup",
    "init_carry",
    "make_rollout",
    "run_chunked",
    "step_metrics",
]
