"""The settings of the platform long-run experiment (:mod:`jaxrec.experiments.platform_long_run`)
and what they build: the world (synthetic or fitted from MovieLens), the test and training envs,
and the CPO / PPO-Lagrangian training config.
"""

from __future__ import annotations

import dataclasses

from jaxrec.agents.platform_cpo import PlatformAgentEnv
from jaxrec.agents.platform_train import WorldsAgentEnv
from jaxrec.agents.train_config import CPOConfig
from jaxrec.data.loaders import DATASETS
from jaxrec.envs.platform import PlatformEnv
from jaxrec.errors import ConfigError

DATA_CHOICES = ("synthetic", *DATASETS)
# where the test serves: a fresh world per seed, or each agent's training worlds where training
# left them (the platform it was trained on, deployed)
TEST_WORLDS = ("fresh", "continue")


@dataclasses.dataclass(frozen=True)
class LongRunExperiment:
    """Sizes and settings of :func:`~jaxrec.experiments.platform_long_run.run_long_run` (every field checked when built).

    ``targets``: head items per slate (each in [0, slate_size]); ``target`` (one of them) is the
    one the summary and the time plots report. ``reset_every``: fresh training worlds every this
    many iterations (0 = never). ``multiplier_kp``, ``multiplier_lr``, ``multiplier_kd``:
    PPO-Lagrangian's PID multiplier gains (proportional, integral, derivative) on the
    per-episode violation (:func:`~jaxrec.agents.update_pid_multiplier`). The default
    0.05 / 0.003 / 0 was tuned on the synthetic world, where the plain ascent (0 / 0.01 / 0, the
    FCPO protocol's 0.05 per 10-step episode at the same gain per step) winds up and ends far
    under its target; it trains at the target there and on two MovieLens worlds it was not tuned
    on (README, "A PID multiplier"). ``n_users`` users per world are drawn from the world's pool
    (a MovieLens world's pool is the data's users). ``top_items``: a MovieLens world keeps only the
    data's this many most-rated items (:func:`~jaxrec.data.loaders.most_rated_items`; None = all).
    ``test_world`` (:data:`TEST_WORLDS`): ``"fresh"`` serves one fresh world per seed;
    ``"continue"`` serves the ``n_worlds`` worlds each agent trained on, from where training left
    them (the re-rankers and the trivial references serve the unconstrained agent's).
    """

    data: str = "synthetic"
    data_dir: str | None = None
    test_world: str = "fresh"
    top_items: int | None = None
    n_users: int = 256
    n_items: int = 500
    n_producers: int = 16
    dim: int = 8
    slate_size: int = 5
    history_len: int = 5
    n_worlds: int = 16
    train_steps: int = 50
    iterations: int = 100
    reset_every: int = 10
    seeds: int = 3
    targets: tuple[float, ...] = (1.0,)
    target: float = 1.0
    test_steps: int = 400
    relabel_every: int = 10
    popularity_beta: float = 1.0
    world_seed: int = 0
    burn_in: int = 20
    hidden: tuple[int, ...] = (32, 32)
    delta: float = 0.01
    multiplier_lr: float = 0.003
    multiplier_kp: float = 0.05
    multiplier_kd: float = 0.0
    fairco_gain: float = 1.0

    def __post_init__(self) -> None:
        if self.data not in DATA_CHOICES:
            raise ConfigError("--data", f"must be one of {DATA_CHOICES}, got {self.data!r}")
        if self.test_world not in TEST_WORLDS:
            raise ConfigError(
                "--test-world", f"must be one of {TEST_WORLDS}, got {self.test_world!r}"
            )
        for name in (
            "n_users",
            "n_items",
            "n_producers",
            "dim",
            "slate_size",
            "history_len",
            "n_worlds",
            "train_steps",
            "iterations",
            "seeds",
            "test_steps",
            "relabel_every",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(name, f"must be an integer >= 1, got {value!r}")
        # its value is checked against the data's catalogue by most_rated_items in build_world
        if self.top_items is not None and self.data == "synthetic":
            raise ConfigError(
                "--top-items", "applies to MovieLens data; the synthetic world has --platform-items"
            )
        if not self.targets:
            raise ConfigError("targets", "needs at least one target")
        for value in self.targets:
            if not 0 <= value <= self.slate_size:
                raise ConfigError(
                    "targets", f"{value} is outside [0, slate_size = {self.slate_size}]"
                )
        if self.target not in self.targets:
            raise ConfigError("target", f"{self.target} is not one of targets {self.targets}")
        if self.reset_every < 0 or (self.reset_every and self.iterations % self.reset_every):
            raise ConfigError("reset_every", f"must be 0 or divide iterations={self.iterations}")
        for name in ("multiplier_lr", "multiplier_kp", "multiplier_kd", "fairco_gain"):
            if not getattr(self, name) >= 0:
                raise ConfigError(name, f"must be >= 0, got {getattr(self, name)}")

    @property
    def serves_training_worlds(self) -> bool:
        """Whether the test serves each agent's training worlds (``test_world="continue"``)
        rather than a fresh world per seed."""
        return self.test_world == "continue"


def build_world(e: LongRunExperiment):
    """The synthetic world, or one fitted from the MovieLens ratings in ``e.data_dir`` (checked
    before anything trains: missing files and too few users are ConfigErrors)."""
    from jaxrec.data.loaders import load_ratings, most_rated_items
    from jaxrec.data.synthetic import synthetic_world
    from jaxrec.experiments.worlds import world_from_ratings

    if e.data == "synthetic":
        return synthetic_world(
            e.world_seed, n_users=e.n_users, n_items=e.n_items, n_producers=e.n_producers, dim=e.dim
        )
    data = load_ratings(e.data, e.data_dir)
    if e.top_items is not None:
        data = most_rated_items(data, e.top_items)
    if data.n_users < e.n_users:
        raise ConfigError(
            "--platform-users",
            f"{e.n_users} users per world, but {e.data_dir} has only {data.n_users} users",
        )
    n_producers = min(e.n_producers, data.n_items)
    return world_from_ratings(data, dim=e.dim, n_producers=n_producers, seed=e.world_seed)


def make_envs(e: LongRunExperiment, world):
    """``(test_env, train_env, params)``: one world served by the agent interface, the same
    world ``n_worlds`` times as one continuing training env, and the platform parameters (no time
    limit: the platform runs on)."""
    platform = PlatformEnv(n_users=e.n_users, slate_size=e.slate_size, history_len=e.history_len)
    params = platform.default_params(
        world,
        relabel_every=e.relabel_every,
        popularity_beta=e.popularity_beta,
        max_steps=2**30,
    )
    test_env = PlatformAgentEnv(platform, world.dim, e.train_steps, e.burn_in)
    return test_env, WorldsAgentEnv(test_env, e.n_worlds), params


def train_config(e: LongRunExperiment, algorithm: str) -> CPOConfig:
    return CPOConfig(
        algorithm=algorithm,
        iterations=e.iterations,
        hidden=e.hidden,
        delta=e.delta,
        multiplier_lr=e.multiplier_lr,
        multiplier_kp=e.multiplier_kp,
        multiplier_kd=e.multiplier_kd,
        critic_batch=4096,
    )
