"""The FCPO paper's experiments as functions: train agents for a grid of cost limits x seeds as one
compiled program, and roll them and the static baselines out on the same protocol test episode
(Ge et al. 2021, Table 2; docs/algorithms.md §1). The trade-off curves with bootstrap intervals are
in :mod:`jaxrec.experiments.fcpo_curves`.

``jaxrec train compare`` and ``notebooks/02_fcpo.ipynb`` are thin layers over these.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxrec.agents.protocol_baselines import BASELINES, baseline_ranking, serve_ranking
from jaxrec.agents.train import TRAINING_METRICS, evaluate_policy, make_train, protocol_metrics
from jaxrec.agents.train_config import CPOConfig
from jaxrec.agents.train_stages import RunnerState
from jaxrec.envs.fcpo import FCPOEnv, FCPOParams, FCPOSetup
from jaxrec.errors import ConfigError
from jaxrec.models.mf import mf_scores
from jaxrec.ops.chunks import run_chunks
from jaxrec.ops.tables import concat_chunks, tidy_frame

CUTOFFS = (5, 10, 20)


@dataclasses.dataclass(frozen=True)
class Protocol:
    """The train and test sides of one FCPO setup: environments and their traced parameters."""

    setup: FCPOSetup
    train_env: FCPOEnv
    test_env: FCPOEnv
    train_params: FCPOParams
    test_params: FCPOParams

    @classmethod
    def from_setup(
        cls, setup: FCPOSetup, train_steps: int, test_steps: int, exclude_seen: bool = False
    ) -> Protocol:
        """``exclude_seen``: at test, never recommend a user's initial or training items (every
        method: the agents' rollout and the baselines' rankings share the test params)."""
        n_users, dim = len(setup.split.users), setup.item_embeddings.shape[1]
        return cls(
            setup=setup,
            train_env=FCPOEnv(n_users, setup.split.n_items, dim, episode_len=train_steps),
            test_env=FCPOEnv(n_users, setup.split.n_items, dim, episode_len=test_steps),
            train_params=setup.params("train"),
            test_params=setup.params("test", exclude_seen),
        )


def train_grid(
    config: CPOConfig,
    env,
    env_params,
    limits: Sequence[float],
    n_seeds: int,
    seed: int = 1,
    progress: bool = True,
    reset_every: int = 0,
) -> tuple[RunnerState, dict[str, np.ndarray]]:
    """Train ``len(limits) x n_seeds`` agents as one compiled program (``vmap`` over traced limits
    and over seeds), in equal chunks of iterations behind a progress bar.

    ``env`` is any environment :func:`jaxrec.agents.train.make_train` accepts (the protocol's
    training env, or :class:`jaxrec.agents.platform_cpo.PlatformAgentEnv`) and ``env_params`` its
    parameters. Returns the final runner states (leaves [L, S, ...]) and the training log, each
    of :data:`TRAINING_METRICS` f32[L, S, iterations]. Seed ``s`` uses the same key at every limit.

    ``reset_every`` (a continuing env such as :class:`jaxrec.agents.platform_train.WorldsAgentEnv`
    only; 0 = never): start fresh worlds every this many iterations; it must divide
    ``config.iterations`` and sets the chunk length.
    """
    from tqdm.auto import tqdm

    train = make_train(config, env, env_params)
    iterations = config.iterations
    chunk = max(d for d in range(1, min(10, iterations) + 1) if iterations % d == 0)
    reset = None
    if reset_every:
        from jaxrec.agents.platform_train import reset_worlds

        if iterations % reset_every:
            raise ConfigError(
                "reset_every", f"{reset_every} must divide the {iterations} iterations"
            )
        chunk = reset_every
        reset = jax.jit(
            jax.vmap(jax.vmap(lambda r, p: reset_worlds(env, r, p), (0, None)), (0, None))
        )
    over_seeds = jax.vmap(
        lambda runner, limit, params: train.iterate(runner, chunk, limit, params),
        in_axes=(0, None, None),
    )
    iterate = jax.jit(jax.vmap(over_seeds, in_axes=(0, 0, None)))
    keys = jax.random.split(jax.random.key(seed), n_seeds)
    # params as an argument, so a continuing env's reset does not bake the world into the program
    init = jax.jit(
        lambda keys, params: jax.vmap(lambda _: jax.vmap(lambda k: train.init(k, params))(keys))(
            jnp.arange(len(limits))
        )
    )
    start = init(keys, env_params)
    labels = [f"cost@{limit:g}" for limit in limits]
    limits = jnp.asarray(limits, jnp.float32)
    chunks = []

    def advance(runner: RunnerState, length: int, done: int):
        if reset is not None and done:
            runner = reset(runner, env_params)
        return iterate(runner, limits, env_params)  # every chunk is `chunk` iterations long

    with tqdm(
        total=iterations, desc=f"{config.algorithm} iterations", unit="it", disable=not progress
    ) as bar:
        for _, metrics, runner in run_chunks(advance, start, iterations, chunk):  # noqa: B007
            chunks.append(jax.device_get(metrics))
            bar.update(chunk)
            # the cost per limit: one mean over an unconstrained and a constrained agent
            # would show neither
            costs = chunks[-1]["episode_cost"][..., -1].mean(axis=1)
            bar.set_postfix(
                ret=f"{chunks[-1]['episode_return'][..., -1].mean():.3f}",
                **{label: f"{cost:.2f}" for label, cost in zip(labels, costs, strict=True)},
            )
    stacked = concat_chunks(chunks)
    log = {name: stacked[name] for name in TRAINING_METRICS}
    return runner, log


def train_log_frame(log: dict[str, np.ndarray], **constants):
    """The training log of one limit (each of :data:`TRAINING_METRICS` f32[S, iterations]) as a tidy
    frame: one row per (seed, iteration), after a column for each of ``constants``."""
    return tidy_frame(
        log, index="seed", step="iteration", first_step=0, names=TRAINING_METRICS, **constants
    )


def policy_rollouts(
    policies,
    config: CPOConfig,
    protocol: Protocol,
    test_action: str = "sample",
    batch_dims: int = 2,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Test rollouts of trained policies with ``batch_dims`` leading axes (limits x seeds from
    :func:`train_grid`), each acting by ``test_action`` (:func:`jaxrec.agents.train.evaluate_policy`).

    Returns ``(items i32[*batch, U, T], hits bool[*batch, U, T], n_relevant i32[U])``.
    """
    env, params = protocol.test_env, protocol.test_params

    def one(policy, params):
        return evaluate_policy(policy, config, env, params, test_action)[:2]

    batched = one
    for _ in range(batch_dims):
        batched = jax.vmap(batched, in_axes=(0, None))
    items, hits = jax.device_get(jax.jit(batched)(policies, params))
    return items, hits, np.asarray(params.targets.sum(axis=1), np.int32)


def policy_metrics(
    policies,
    config: CPOConfig,
    protocol: Protocol,
    ks: tuple[int, ...] = CUTOFFS,
    batch_dims: int = 2,
    test_action: str = "sample",
) -> dict[str, np.ndarray]:
    """Protocol test metrics of trained policies with ``batch_dims`` leading axes (limits x seeds
    from :func:`train_grid`): each metric f32[*batch]."""
    items, hits, n_relevant = policy_rollouts(policies, config, protocol, test_action, batch_dims)
    is_head = protocol.test_params.is_head

    def one(items, hits):
        return protocol_metrics(items, hits, n_relevant, is_head, ks)

    batched = one
    for _ in range(batch_dims):
        batched = jax.vmap(batched)
    return jax.device_get(jax.jit(batched)(items, hits))


def baseline_rollout(
    name: str,
    protocol: Protocol,
    head_ratios: Sequence[float] | None = None,
    key: jax.Array | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Test rollout of a static baseline: ``(items i32[U, T], hits bool[U, T], n_relevant
    i32[U])``, with a leading axis over ``head_ratios`` for ``static_rerank`` (``vmap`` over the
    traced ratio, one program; default ratio 0.2)."""
    setup, env, params = protocol.setup, protocol.test_env, protocol.test_params
    relevance = mf_scores(
        {k: jnp.asarray(v) for k, v in setup.mf_params.items()}, jnp.arange(env.n_users)
    )
    counts = jnp.asarray(setup.split.train_counts, jnp.float32)
    key = jax.random.key(0) if key is None else key

    # the arrays are arguments, not closed-over constants, so XLA does not constant-fold the ranking
    def one(head_ratio, relevance, counts, params, key):
        ranking = baseline_ranking(
            name,
            key,
            relevance,
            counts,
            params.is_head,
            env.episode_len,
            head_ratio,
            mask=~params.blocked,
        )
        return serve_ranking(ranking, env, params)

    args = (relevance, counts, params, key)
    if name == "static_rerank":
        ratios = jnp.asarray([0.2] if head_ratios is None else head_ratios, jnp.float32)
        in_axes = (0, None, None, None, None)
        items, hits, n_relevant = jax.jit(jax.vmap(one, in_axes=in_axes))(ratios, *args)
        return jax.device_get((items, hits, n_relevant[0]))
    return jax.device_get(jax.jit(one)(jnp.float32(0.0), *args))


def baseline_metrics(
    name: str,
    protocol: Protocol,
    head_ratios: Sequence[float] | None = None,
    key: jax.Array | None = None,
    ks: tuple[int, ...] = CUTOFFS,
) -> dict[str, np.ndarray]:
    """Protocol test metrics of a static baseline; for ``static_rerank`` one entry per head ratio
    (``vmap`` over the traced ratio, one program), otherwise scalars."""
    items, hits, n_relevant = baseline_rollout(name, protocol, head_ratios, key)
    is_head = protocol.test_params.is_head

    def one(items, hits):
        return protocol_metrics(items, hits, n_relevant, is_head, ks)

    batched = jax.vmap(one) if name == "static_rerank" else one
    return jax.device_get(jax.jit(batched)(items, hits))


def summarise(metrics: dict[str, np.ndarray], axis: int | tuple[int, ...] | None = None) -> dict:
    """``{name: {"mean", "std"}}`` over ``axis`` (the seeds) of each metric."""
    return {
        name: {"mean": float(np.mean(v, axis=axis)), "std": float(np.std(v, axis=axis))}
        for name, v in metrics.items()
    }


def compare_methods(
    protocol: Protocol,
    cost_limit: float,
    iterations: int,
    n_seeds: int,
    config_overrides: dict | None = None,
    progress: bool = True,
    test_action: str = "sample",
) -> dict[str, dict]:
    """The FCPO comparison table: every static baseline, CPO and PPO-Lagrangian at ``cost_limit``,
    and unconstrained CPO, on the same test rollout.

    The re-ranker's head ratio is matched to the limit (``cost_limit / train_steps``, the share of
    popular items the constrained agents may recommend); with a finite limit the table also holds
    ``static_rerank_at_cpo_pop_rate``, the re-ranker at the head ratio (a 0.05 grid) whose test
    pop_rate@10 is nearest constrained CPO's, for comparing NDCG at the same pop rate. Returns ``{method: {"metrics":
    {name: {"mean", "std"}}, ...}}``, std over seeds (0 for the deterministic baselines; the
    random baseline's over ``n_seeds`` draws). Trained agents act at test by ``test_action``
    (:func:`jaxrec.agents.train.evaluate_policy`).
    """
    overrides = config_overrides or {}
    train_steps = protocol.train_env.episode_len
    head_ratio = min(1.0, cost_limit / train_steps) if np.isfinite(cost_limit) else 1.0
    table: dict[str, dict] = {}
    for name in BASELINES:
        if name == "random":
            draws = [
                baseline_metrics(name, protocol, key=jax.random.key(s)) for s in range(n_seeds)
            ]
            metrics = {k: np.stack([d[k] for d in draws]) for k in draws[0]}
            table[name] = {"metrics": summarise(metrics)}
        elif name == "static_rerank":
            metrics = baseline_metrics(name, protocol, head_ratios=[head_ratio])
            table[name] = {"metrics": summarise(metrics), "head_ratio": head_ratio}
        else:
            table[name] = {"metrics": summarise(baseline_metrics(name, protocol))}
    cpo_config = CPOConfig(algorithm="cpo", iterations=iterations, **overrides)
    limits = [cost_limit, float("inf")] if np.isfinite(cost_limit) else [cost_limit]
    runner, log = train_grid(
        cpo_config, protocol.train_env, protocol.train_params, limits, n_seeds, progress=progress
    )
    metrics = policy_metrics(runner.policy, cpo_config, protocol, test_action=test_action)
    for index, label in enumerate(["cpo", "cpo_unconstrained"][: len(limits)]):
        table[label] = {
            "metrics": summarise({k: v[index] for k, v in metrics.items()}),
            "cost_limit": limits[index],
            "final_train_cost": float(log["episode_cost"][index, :, -10:].mean()),
        }
    if np.isfinite(cost_limit):
        table["static_rerank_at_cpo_pop_rate"] = _rerank_at_pop_rate(
            protocol, table["cpo"]["metrics"]["pop_rate@10"]["mean"]
        )
    ppo_config = CPOConfig(algorithm="ppo-lag", iterations=iterations, **overrides)
    runner, log = train_grid(
        ppo_config,
        protocol.train_env,
        protocol.train_params,
        [cost_limit],
        n_seeds,
        progress=progress,
    )
    metrics = policy_metrics(runner.policy, ppo_config, protocol, test_action=test_action)
    table["ppo_lag"] = {
        "metrics": summarise({k: v[0] for k, v in metrics.items()}),
        "cost_limit": cost_limit,
        "final_train_cost": float(log["episode_cost"][0, :, -10:].mean()),
    }
    return table


def _rerank_at_pop_rate(protocol: Protocol, pop_rate: float, k: int = 10) -> dict:
    """The static re-ranker's table entry at the head ratio of a 0.05 grid (one ``vmap``ped
    program) whose test ``pop_rate@k`` is nearest ``pop_rate``."""
    ratios = np.linspace(0.0, 1.0, 21)
    metrics = baseline_metrics("static_rerank", protocol, head_ratios=ratios)
    best = int(np.argmin(np.abs(metrics[f"pop_rate@{k}"] - pop_rate)))
    return {
        "metrics": summarise({name: v[best] for name, v in metrics.items()}),
        "head_ratio": float(ratios[best]),
    }


def table_frame(table: dict[str, dict], columns: Sequence[str] | None = None):
    """Methods x metrics as a pandas DataFrame of means (and ``<metric>_std`` columns)."""
    import pandas as pd

    rows = []
    for method, entry in table.items():
        row = {"method": method}
        for name, stats in entry["metrics"].items():
            if columns is None or name in columns:
                row[name] = stats["mean"]
                row[f"{name}_std"] = stats["std"]
        rows.append(row)
    return pd.DataFrame(rows)


def plot_learning_curves(frame, cost_limit: float = float("inf")):
    """Return and cost per training episode against the iteration (mean over seeds, +-1 std band),
    with the cost limit drawn; ``frame`` has ``iteration``, ``episode_return``, ``episode_cost``."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    for column, ax, title in zip(
        ("episode_return", "episode_cost"),
        axes,
        ("return per episode", "cost per episode"),
        strict=True,
    ):
        grouped = frame.groupby("iteration")[column]
        mean, std = grouped.mean(), grouped.std().fillna(0.0)
        ax.plot(mean.index, mean.values)
        ax.fill_between(mean.index, mean - std, mean + std, alpha=0.25)
        ax.set_title(title)
        ax.set_xlabel("iteration")
    if cost_limit != float("inf"):
        axes[1].axhline(cost_limit, color="red", linestyle="--", label="cost limit")
        axes[1].legend()
    fig.tight_layout()
    return fig
