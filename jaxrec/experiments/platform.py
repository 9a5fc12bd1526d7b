"""The long-run experiment on the dynamic platform (Ge et al. 2021, §5.4): train CPO at a head-item
limit and unconstrained on :class:`jaxrec.agents.platform_cpo.PlatformAgentEnv`, then serve one
fresh world per seed with CPO, the unconstrained agent and the static re-ranker, into a tidy frame,
a summary and a plot. ``jaxrec train platform`` is a thin layer over these.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from jaxrec.agents.platform_cpo import PlatformAgentEnv, long_run, policy_scores
from jaxrec.agents.train import CPOConfig
from jaxrec.envs.platform import PlatformEnv
from jaxrec.errors import ConfigError
from jaxrec.ops.tables import tidy_frame


@dataclasses.dataclass(frozen=True)
class PlatformExperiment:
    """Sizes and settings of :func:`run_platform_experiment`.

    ``head_per_slate`` is the allowed mean number of head items per slate; CPO's episode limit is
    ``head_per_slate * train_steps`` and the static re-ranker's head ratio ``head_per_slate /
    slate_size``, so both aim at the same exposure.
    """

    n_users: int = 256
    n_items: int = 500
    n_producers: int = 16
    dim: int = 8
    slate_size: int = 5
    history_len: int = 5
    train_steps: int = 50
    iterations: int = 100
    seeds: int = 2
    head_per_slate: float = 1.0
    test_steps: int = 400
    relabel_every: int = 10
    popularity_beta: float = 1.0
    world_seed: int = 0
    burn_in: int = 20
    hidden: tuple[int, ...] = (32, 32)

    def __post_init__(self) -> None:
        if not 0 <= self.head_per_slate <= self.slate_size:
            raise ConfigError("head_per_slate", f"must lie in [0, slate_size={self.slate_size}]")


PLATFORM_METHODS = ("cpo", "unconstrained", "static_rerank")
SERIES = ("head_share", "cost", "clicks", "exposure_gini", "relabelled")


def run_platform_experiment(experiment: PlatformExperiment, progress: bool = True):
    """Train CPO at the limit and unconstrained (one program over both limits x seeds) on the
    dynamic platform, then serve ``test_steps`` steps of one fresh world per seed with CPO, the
    unconstrained agent, and the static re-ranker on top of the unconstrained agent's scores.

    Returns ``(series, train_log)``: a tidy pandas DataFrame (``method``, ``seed``, ``step`` and
    every :func:`long_run` series) and the training log of :func:`train_grid` (leaves [2, S, it]:
    row 0 the limit, row 1 unconstrained).
    """
    import pandas as pd

    from jaxrec.data.synthetic import synthetic_world
    from jaxrec.experiments.fcpo import train_grid

    e = experiment
    world = synthetic_world(
        e.world_seed, n_users=e.n_users, n_items=e.n_items, n_producers=e.n_producers, dim=e.dim
    )
    platform = PlatformEnv(n_users=e.n_users, slate_size=e.slate_size, history_len=e.history_len)
    params = platform.default_params(
        world, relabel_every=e.relabel_every, popularity_beta=e.popularity_beta
    )
    env = PlatformAgentEnv(platform, e.dim, e.train_steps, e.burn_in)
    config = CPOConfig(iterations=e.iterations, hidden=e.hidden, critic_batch=1024)
    limit = e.head_per_slate * e.train_steps
    runner, log = train_grid(config, env, params, [limit, float("inf")], e.seeds, progress=progress)
    test_keys = jax.random.split(jax.random.key(e.world_seed + 1000), e.seeds)

    def serve(policy, key, head_ratio):
        scores = policy_scores(policy, config, env)
        return long_run(key, env, params, scores, e.test_steps, head_ratio)

    # one program serves all three methods: CPO, unconstrained, unconstrained + re-ranker
    policies = jax.tree.map(lambda x: x[jnp.array([0, 1, 1])], runner.policy)
    head_ratios = jnp.array([-1.0, -1.0, e.head_per_slate / e.slate_size])
    series = jax.jit(jax.vmap(jax.vmap(serve, in_axes=(0, 0, None)), in_axes=(0, None, 0)))(
        policies, test_keys, head_ratios
    )
    runs = {
        method: jax.tree.map(lambda x, i=index: x[i], series)
        for index, method in enumerate(PLATFORM_METHODS)
    }
    frames = [
        tidy_frame(jax.device_get(series), index="seed", first_step=0, names=SERIES, method=method)
        for method, series in runs.items()
    ]
    return pd.concat(frames, ignore_index=True), log


def summarise_long_run(frame, experiment: PlatformExperiment, tail: int = 200):
    """Per method over the last ``tail`` test steps (means over steps and seeds): head items per
    slate against the target, clicks per user, exposure Gini, and the drift of head items per
    slate from the first 50 steps to the last ``tail``."""
    import pandas as pd

    rows = []
    last_step = frame.step.max()
    for method, group in frame.groupby("method", sort=False):
        late = group[group.step > last_step - tail]
        early = group[group.step < 50]
        rows.append(
            {
                "method": method,
                "head_per_slate": float(late.head_share.mean() * experiment.slate_size),
                "target_head_per_slate": experiment.head_per_slate,
                "clicks_per_user": float(late.clicks.mean()),
                "exposure_gini": float(late.exposure_gini.mean()),
                "head_drift": float(
                    (late.head_share.mean() - early.head_share.mean()) * experiment.slate_size
                ),
            }
        )
    return pd.DataFrame(rows)


def plot_long_run(frame, experiment: PlatformExperiment, window: int = 10):
    """Head items per slate, exposure Gini and clicks per user over test time, per method (mean
    over seeds, rolling mean over ``window`` steps), with the target drawn."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(14, 3.6))
    panels = (
        ("head_share", experiment.slate_size, "head items per slate (cost)"),
        ("exposure_gini", 1.0, "exposure Gini (recent, live items)"),
        ("clicks", 1.0, "clicks per user per step"),
    )
    for ax, (column, scale, title) in zip(axes, panels, strict=True):
        for method, group in frame.groupby("method", sort=False):
            curve = group.groupby("step")[column].mean() * scale
            ax.plot(curve.index, curve.rolling(window, min_periods=1).mean(), label=method)
        ax.set_title(title)
        ax.set_xlabel("test step")
    axes[0].axhline(experiment.head_per_slate, color="red", linestyle="--", label="target")
    axes[0].legend(fontsize=8)
    fig.suptitle(
        f"dynamic platform: labels recomputed every {experiment.relabel_every} steps, "
        f"Matthew effect beta={experiment.popularity_beta}"
    )
    fig.tight_layout()
    return fig
