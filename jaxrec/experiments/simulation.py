"""Run baseline policies over many worlds and a long horizon, into a tidy result table.

Shared by ``jaxrec demo``, ``jaxrec simulate`` and the notebooks: compiled chunks of the rollout,
a progress bar per chunk, metrics collected into one row per (policy, world, step), and a NaN check
that stops the run with the step where values went non-finite.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import numpy as np
import pandas as pd

from jaxrec.agents.baselines import make_policy
from jaxrec.envs.platform import PlatformEnv
from jaxrec.envs.platform_types import EnvParams
from jaxrec.envs.rollout import run_chunked
from jaxrec.errors import Interrupted, NonFiniteError
from jaxrec.ops.tables import tidy_frame


def run_policies(
    env: PlatformEnv,
    params: EnvParams,
    policies: Sequence[str],
    n_worlds: int,
    n_steps: int,
    seed: int = 0,
    chunk: int = 100,
    progress: bool = True,
    policy_kwargs: dict[str, dict[str, Any]] | None = None,
    on_chunk: Callable[[pd.DataFrame], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> tuple[pd.DataFrame, dict[str, dict[str, np.ndarray]]]:
    """Simulate each policy on ``n_worlds`` worlds (same seeds for every policy) for ``n_steps``.

    Returns ``(frame, finals)``: ``frame`` has one row per (policy, world, step) with the columns
    of :data:`jaxrec.envs.STEP_METRICS`; ``finals[policy]`` holds the final per-item cumulative
    exposure ``f32[W, M]`` and liveness, for Lorenz curves.

    ``on_chunk`` receives each finished chunk's rows (same columns as ``frame``) as soon as the
    chunk is done, so a caller can stream them to disk. ``should_stop`` is asked after each chunk;
    when it answers True the run raises :class:`~jaxrec.errors.Interrupted` naming the policy and
    step it reached (every chunk up to there has gone to ``on_chunk``).
    """
    from tqdm.auto import tqdm

    policy_kwargs = policy_kwargs or {}
    keys = jax.random.split(jax.random.key(seed), n_worlds)
    frames, finals = [], {}
    for name in policies:
        policy = make_policy(name, env, **policy_kwargs.get(name, {}))
        bar = tqdm(total=n_steps, desc=f"{name:>13}", unit="step", disable=not progress)
        for done, metrics, carry in run_chunked(  # noqa: B007 (last carry read after the loop)
            env, policy, keys, params, policy.init_params(), n_steps, chunk
        ):
            host = {metric: np.asarray(value) for metric, value in metrics.items()}
            length = next(iter(host.values())).shape[1]
            for metric, value in host.items():
                if not np.all(np.isfinite(value)):
                    bad_step = done - length + int(np.where(~np.isfinite(value))[1].min())
                    raise NonFiniteError(
                        f"policy {name}: metric {metric} became non-finite at step {bad_step + 1}"
                    )
            frames.append(tidy_frame(host, first_step=done - length + 1, policy=name))
            if on_chunk is not None:
                on_chunk(frames[-1])
            bar.update(length)
            bar.set_postfix(gini=f"{host['exposure_gini'][:, -1].mean():.3f}")
            if should_stop is not None and should_stop() and done < n_steps:
                bar.close()
                raise Interrupted(f"policy {name} stopped at step {done} of {n_steps}")
        bar.close()
        _, final_state, *_ = carry
        finals[name] = {
            "item_exposure": np.asarray(final_state.item_exposure),
            "item_alive": np.asarray(final_state.item_alive),
        }
    frame = pd.concat(frames, ignore_index=True)
    return frame.sort_values(
        ["policy", "world", "step"], kind="stable", key=_policy_order(policies)
    ).reset_index(drop=True), finals


def _policy_order(policies: Sequence[str]) -> Callable[[pd.Series], pd.Series]:
    """A sort key keeping policies in the order they were given (other columns sort as values)."""
    rank = {name: i for i, name in enumerate(policies)}
    return lambda column: column.map(rank) if column.name == "policy" else column


SUMMARY_COLUMNS = {
    "reward": "clicks/user/step",
    "cost": "head items/slate",
    "exposure_gini": "final exposure Gini",
    "popularity_gini": "final popularity Gini",
    "head_share": "head exposure share",
    "top1_share": "top-1% share",
    "active_users": "active users",
    "active_producers": "producers left",
}


def summarise(frame: pd.DataFrame, tail_fraction: float = 0.1) -> pd.DataFrame:
    """One row per policy: rates averaged over the whole run, state metrics over its last 10%.

    Each value is the mean over worlds; ``*_std`` columns give the std over worlds.
    """
    last = frame["step"].max()
    tail = frame[frame["step"] > last * (1.0 - tail_fraction)]
    rates = frame.groupby(["policy", "world"], sort=False)[["reward", "cost", "head_share"]].mean()
    states = tail.groupby(["policy", "world"], sort=False)[
        ["exposure_gini", "popularity_gini", "top1_share", "active_users", "active_producers"]
    ].mean()
    per_world = rates.join(states)
    mean = per_world.groupby(level="policy", sort=False).mean()
    std = per_world.groupby(level="policy", sort=False).std(ddof=0).add_suffix("_std")
    return mean.join(std).reset_index()


def format_summary(summary: pd.DataFrame) -> str:
    """A fixed-width comparison table (mean ± std over worlds)."""
    header = ["policy", *SUMMARY_COLUMNS.values()]
    rows = []
    for _, row in summary.iterrows():
        cells = [row["policy"]]
        for metric in SUMMARY_COLUMNS:
            digits = 0 if metric in ("active_users", "active_producers") else 3
            cells.append(f"{row[metric]:.{digits}f} ± {row[metric + '_std']:.{digits}f}")
        rows.append(cells)
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(str(c).rjust(w) for c, w in zip(r, widths, strict=True)) for r in [header, *rows]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
