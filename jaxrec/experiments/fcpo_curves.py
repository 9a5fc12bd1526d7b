"""Accuracy-vs-fairness curves of the FCPO protocol with bootstrap confidence intervals.

CPO and PPO-Lagrangian are trained over a list of cost limits (each a ``limits x seeds`` program),
the static re-ranker is scored over a list of head ratios, and most-popular and MF-greedy are the
trivial baselines. Every method is rolled out on the same test users, with the users' seen items
allowed (the FCPO paper's protocol) and excluded (``--exclude-seen``); training does not depend on
that choice, so one training run serves both.

Uncertainty (house rule: over test samples, not only over seeds): a bootstrap draw resamples the
test users (the unit of independence) and, for trained methods, the seeds; one user resample is
shared by every method, so differences are paired. NDCG@k, Recall@k and PopRate@k are weighted
means over users; Gini@k is the Gini of item counts summed over the resampled users. Each figure
gets ``mean`` (on the data as observed) and a 95% basic bootstrap interval ``ci_low``/``ci_high``
(the percentile interval re-centred on the estimate: a resample's repeated users bias the Gini of
their summed counts upwards, and the basic interval removes that shift).

The paper's claim is about accuracy at equal fairness, so each trained point is compared with the
re-ranker's curve at the same PopRate@k (and the same Gini@k): per draw, the re-ranker's NDCG is
interpolated along its curve at the trained point's x, and the interval of the difference says
whether the gap is significant.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxrec.agents.train_config import CPOConfig
from jaxrec.experiments.fcpo import Protocol, baseline_rollout, policy_rollouts, train_grid
from jaxrec.metrics import gini, ndcg_at_k, recall_at_k
from jaxrec.metrics.bootstrap import (
    basic_interval,
    resample_counts,
    significant,
    weighted_mean,
)

METRICS = ("ndcg", "recall", "pop_rate", "gini")
TRAINED = ("cpo", "ppo_lag")
TRIVIAL = ("most_popular", "mf_greedy")
PROTOCOLS = {"seen_allowed": False, "exclude_seen": True}


@dataclasses.dataclass(frozen=True)
class Arm:
    """One method at one setting on the test rollout.

    Attributes:
      method: ``cpo``, ``ppo_lag``, ``static_rerank``, ``most_popular`` or ``mf_greedy``.
      setting: the cost limit (trained methods), the head ratio (re-ranker), else ``nan``.
      items: i32[S, U, T] recommended items (``S`` seeds, 1 for a deterministic baseline).
      hits: bool[S, U, T] whether each was a held-out hit.
      n_relevant: i32[U] held-out items per user, counted before the rollout.
      train_cost: mean final training cost per episode over seeds (trained methods).
    """

    method: str
    setting: float
    items: np.ndarray
    hits: np.ndarray
    n_relevant: np.ndarray
    train_cost: float = float("nan")


def arm_draws(
    arm: Arm,
    is_head: jax.Array,
    k: int,
    user_weights: jax.Array,
    seed_weights: jax.Array,
) -> dict[str, np.ndarray]:
    """Each of :data:`METRICS` at cut-off ``k`` under every bootstrap draw: ``{name: f32[B]}``.

    Args:
      arm: the method's test rollout.
      is_head: bool[I] popular group.
      k: cut-off (position k = step k), at most ``T``.
      user_weights: f32[B, U] how often each test user is drawn (a row of ones: the observed data).
      seed_weights: f32[B, S] how often each seed is drawn.
    """
    draws = _draws(
        jnp.asarray(arm.items[..., :k]),
        jnp.asarray(arm.hits[..., :k]),
        jnp.asarray(arm.n_relevant),
        jnp.asarray(is_head),
        user_weights,
        seed_weights,
    )
    return {name: np.asarray(v) for name, v in draws.items()}


@jax.jit
def _draws(items, hits, n_relevant, is_head, user_weights, seed_weights):
    """:func:`arm_draws` on arrays: items i32[S, U, k], hits bool[S, U, k]."""
    per_user = {
        "ndcg": ndcg_at_k(hits, n_relevant),
        "recall": recall_at_k(hits, n_relevant),
        "pop_rate": jnp.mean(is_head[items], axis=-1),
    }  # each f32[S, U]
    by_seed = {name: weighted_mean(v, user_weights) for name, v in per_user.items()}  # [B, S]

    def counts(weights, seed_items):  # f32[U], i32[U, k] -> f32[I]
        return jnp.zeros(is_head.shape[0]).at[seed_items].add(weights[:, None])

    item_counts = jax.vmap(lambda w: jax.vmap(lambda it: counts(w, it))(items))(user_weights)
    by_seed["gini"] = gini(item_counts)  # [B, S]
    return {
        name: (v * seed_weights).sum(axis=-1) / seed_weights.sum(axis=-1)
        for name, v in by_seed.items()
    }


def interpolate_curve(x: np.ndarray, curve_x: np.ndarray, curve_y: np.ndarray) -> np.ndarray:
    """Per draw, ``curve_y`` at ``x`` by linear interpolation along the curve sorted by
    ``curve_x`` (clamped at its ends): x f[B], curve_x, curve_y f[B, P] -> f[B]."""
    order = np.argsort(curve_x, axis=1)
    sorted_x = np.take_along_axis(curve_x, order, axis=1)
    sorted_y = np.take_along_axis(curve_y, order, axis=1)
    return np.array([np.interp(v, cx, cy) for v, cx, cy in zip(x, sorted_x, sorted_y, strict=True)])


def _interval(draws: np.ndarray, level: float) -> dict[str, float]:
    """``mean`` from the observed data (draw 0), the basic bootstrap interval from the resamples."""
    low, high = basic_interval(draws[0], draws[1:], level)
    return {"mean": float(draws[0]), "ci_low": float(low), "ci_high": float(high)}


def curve_summary(
    arms: Sequence[Arm],
    is_head: jax.Array,
    k: int,
    train_steps: int,
    key: jax.Array,
    n_draws: int = 1000,
    level: float = 0.95,
) -> dict[str, list[dict]]:
    """Bootstrap every arm (one shared user resample, one seed resample per seed count) and compare
    each trained point with the re-ranker's curve at equal PopRate@k and equal Gini@k.

    Returns ``{"rows": [...], "comparisons": [...]}``: a row per arm with ``method``, ``setting``,
    ``train_cost`` (``None`` where they do not apply) and ``{metric: {"mean", "ci_low", "ci_high"}}``, plus for trained arms the
    limit's implied PopRate ``setting / train_steps``; a comparison per trained arm and x-metric
    with the NDCG difference (trained minus re-ranker), ``significant`` and ``within_curve``
    (whether the point's observed x lies inside the re-ranker's range; outside it the difference
    is to the curve's nearer end).
    """
    k_users, k_seeds = jax.random.split(key)
    n_users = len(arms[0].n_relevant)
    ones_row = jnp.ones((1, n_users), jnp.float32)
    user_weights = jnp.concatenate([ones_row, resample_counts(k_users, n_users, n_draws)])
    seed_weights = {}
    draws = []
    for arm in arms:
        n_seeds = arm.items.shape[0]
        if n_seeds not in seed_weights:
            resampled = resample_counts(jax.random.fold_in(k_seeds, n_seeds), n_seeds, n_draws)
            seed_weights[n_seeds] = jnp.concatenate([jnp.ones((1, n_seeds)), resampled])
        draws.append(arm_draws(arm, is_head, k, user_weights, seed_weights[n_seeds]))
    rows = []
    for arm, arm_draw in zip(arms, draws, strict=True):
        row = {
            "method": arm.method,
            # None rather than NaN, so tradeoff.json stays standard JSON
            "setting": None if np.isnan(arm.setting) else arm.setting,
            "train_cost": None if np.isnan(arm.train_cost) else arm.train_cost,
        }
        if arm.method in TRAINED:
            row["implied_pop_rate"] = min(1.0, arm.setting / train_steps)
        row |= {name: _interval(arm_draw[name], level) for name in METRICS}
        rows.append(row)
    rerank = [d for arm, d in zip(arms, draws, strict=True) if arm.method == "static_rerank"]
    comparisons = []
    if len(rerank) >= 2:
        for arm, arm_draw in zip(arms, draws, strict=True):
            if arm.method not in TRAINED:
                continue
            for x_name in ("pop_rate", "gini"):
                curve_x = np.stack([d[x_name] for d in rerank], axis=1)
                curve_y = np.stack([d["ndcg"] for d in rerank], axis=1)
                gap = arm_draw["ndcg"] - interpolate_curve(arm_draw[x_name], curve_x, curve_y)
                entry = _interval(gap, level)
                observed = arm_draw[x_name][0]
                comparisons.append(
                    {
                        "method": arm.method,
                        "setting": arm.setting,
                        "at_equal": x_name,
                        "ndcg_minus_rerank": entry,
                        "significant": bool(significant(entry["ci_low"], entry["ci_high"])),
                        # outside the curve the re-ranker's end point stands in (clamped)
                        "within_curve": bool(curve_x[0].min() <= observed <= curve_x[0].max()),
                    }
                )
    return {"rows": rows, "comparisons": comparisons}


def protocol_arms(
    protocol: Protocol,
    trained: dict[str, tuple],
    limits: Sequence[float],
    head_ratios: Sequence[float],
    test_action: str,
) -> list[Arm]:
    """Test rollouts of every method on ``protocol``'s test side.

    ``trained`` maps ``cpo``/``ppo_lag`` to ``(config, policies [L, S, ...], train_cost f[L])``
    from :func:`train_grid` over ``limits``; ``test_action`` is how a trained policy acts at test
    (:func:`jaxrec.agents.train.evaluate_policy`).
    """
    arms = []
    for method, (config, policies, train_cost) in trained.items():
        items, hits, n_relevant = policy_rollouts(policies, config, protocol, test_action)
        for index, limit in enumerate(limits):
            arms.append(
                Arm(method, float(limit), items[index], hits[index], n_relevant,
                    float(train_cost[index]))
            )  # fmt: skip
    ratio_items, ratio_hits, n_relevant = baseline_rollout("static_rerank", protocol, head_ratios)
    for index, ratio in enumerate(head_ratios):
        arms.append(
            Arm("static_rerank", float(ratio), ratio_items[index][None], ratio_hits[index][None],
                n_relevant)
        )  # fmt: skip
    for name in TRIVIAL:
        items, hits, n_relevant = baseline_rollout(name, protocol)
        arms.append(Arm(name, float("nan"), items[None], hits[None], n_relevant))
    return arms


def run_curves(
    protocols: dict[str, Protocol],
    limits: Sequence[float],
    head_ratios: Sequence[float],
    iterations: int,
    n_seeds: int,
    k: int = 10,
    config_overrides: dict | None = None,
    test_action: str = "sample",
    n_draws: int = 1000,
    key: jax.Array | None = None,
    progress: bool = True,
) -> dict:
    """Train CPO and PPO-Lagrangian over ``limits`` x ``n_seeds`` (on the training side shared by
    every entry of ``protocols``), roll every method out on each protocol's test side, and
    summarise with :func:`curve_summary`. Returns ``{protocol name: summary}``."""
    overrides = config_overrides or {}
    first = next(iter(protocols.values()))
    trained = {}
    for method, algorithm in zip(TRAINED, ("cpo", "ppo-lag"), strict=True):
        config = CPOConfig(algorithm=algorithm, iterations=iterations, **overrides)
        runner, log = train_grid(
            config, first.train_env, first.train_params, limits, n_seeds, progress=progress
        )
        trained[method] = (config, runner.policy, final_train_cost(log))
    key = jax.random.key(0) if key is None else key
    out = {}
    for name, protocol in protocols.items():
        arms = protocol_arms(protocol, trained, limits, head_ratios, test_action)
        out[name] = curve_summary(
            arms,
            jnp.asarray(protocol.test_params.is_head),
            k,
            protocol.train_env.episode_len,
            key,
            n_draws,
        )
    return out


def final_train_cost(log: dict[str, np.ndarray]) -> np.ndarray:
    """Training cost per episode of the final policies, f[L]: the mean over seeds of each run's
    last iteration (the rollout of the policy the previous update produced)."""
    return log["episode_cost"][..., -1].mean(axis=-1)


def _cell(stats: dict[str, float]) -> str:
    return f"{stats['mean']:.4f} [{stats['ci_low']:.4f}, {stats['ci_high']:.4f}]"


def curves_table(summary: dict[str, list[dict]]):
    """The rows of :func:`curve_summary` as a printable pandas DataFrame: each metric as
    ``mean [ci_low, ci_high]``, and for trained rows the NDCG gap to the re-ranker at equal
    PopRate and equal Gini, marked ``ns`` where its interval covers zero and ``(beyond curve)``
    where the point's x lies outside the re-ranker's range (compared with the curve's end)."""
    import pandas as pd

    gaps = {(c["method"], c["setting"], c["at_equal"]): c for c in summary["comparisons"]}
    records = []
    for row in summary["rows"]:
        setting = np.nan if row["setting"] is None else row["setting"]
        record = {"method": row["method"], "setting": setting}
        record |= {name: _cell(row[name]) for name in ("ndcg", "pop_rate", "gini")}
        record["implied_pop_rate"] = row.get("implied_pop_rate", float("nan"))
        record["train_cost"] = np.nan if row["train_cost"] is None else row["train_cost"]
        for x_name in ("pop_rate", "gini"):
            gap = gaps.get((row["method"], row["setting"], x_name))
            record[f"ndcg_gap_at_{x_name}"] = (
                "" if gap is None
                else _cell(gap["ndcg_minus_rerank"]) + ("" if gap["significant"] else " ns")
                + ("" if gap["within_curve"] else " (beyond curve)")
            )  # fmt: skip
        records.append(record)
    return pd.DataFrame(records)


def plot_curves(results: dict[str, dict], k: int = 10):
    """NDCG@k against Gini@k and against PopRate@k (columns) for each test protocol (rows): CPO
    and PPO-Lagrangian over their limits, the re-ranker over its head ratios, the trivial
    baselines as single points; segments are the bootstrap intervals."""
    import matplotlib.pyplot as plt

    names = list(results)
    fig, axes = plt.subplots(len(names), 2, figsize=(11, 4.2 * len(names)), squeeze=False)
    styles = {
        "cpo": ("o-", "CPO (cost limits)"),
        "ppo_lag": ("^-", "PPO-Lagrangian (cost limits)"),
        "static_rerank": ("s-", "static re-ranker (head ratios)"),
        "most_popular": ("*", "most-popular"),
        "mf_greedy": ("D", "MF-greedy"),
    }
    for row_axes, name in zip(axes, names, strict=True):
        rows = results[name]["rows"]
        for ax, x_name in zip(row_axes, ("gini", "pop_rate"), strict=True):
            for method, (marker, label) in styles.items():
                points = [r for r in rows if r["method"] == method]
                if not points:
                    continue
                x = np.array([p[x_name]["mean"] for p in points])
                y = np.array([p["ndcg"]["mean"] for p in points])
                (line,) = ax.plot(x, y, marker, label=label)
                # intervals as segments: a Gini's basic interval need not contain its estimate
                for p, xi, yi in zip(points, x, y, strict=True):
                    ax.plot([p[x_name]["ci_low"], p[x_name]["ci_high"]], [yi, yi],
                            color=line.get_color(), linewidth=1)  # fmt: skip
                    ax.plot([xi, xi], [p["ndcg"]["ci_low"], p["ndcg"]["ci_high"]],
                            color=line.get_color(), linewidth=1)  # fmt: skip
            ax.set_xlabel(f"{'Gini' if x_name == 'gini' else 'PopRate'}@{k}")
            ax.set_ylabel(f"NDCG@{k}")
            ax.set_title(name.replace("_", " "))
        row_axes[0].legend(fontsize=7)
    fig.tight_layout()
    return fig
