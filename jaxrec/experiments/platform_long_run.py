"""The long-run fairness experiment on the dynamic platform (Ge et al. 2021, §5.4): agents trained
on continuing worlds, then served for a long test beside the static (frozen-label) and dynamic
(FairCo, Morik et al. 2020) re-rankers.

For every target ``t`` (head items per slate) and seed, CPO and PPO-Lagrangian are trained with
the limit ``t * train_steps`` on ``n_worlds`` continuing worlds
(:class:`jaxrec.agents.platform_train.WorldsAgentEnv`), CPO also without a limit (the
unconstrained agent). Each seed's agents then serve for ``test_steps`` steps one fresh world, or
(``test_world="continue"``) the ``n_worlds`` worlds they trained on, from where training left them
(the deployment of an agent on the platform it was trained on; the re-rankers and the trivial
references serve the unconstrained agent's training worlds, the platform a fix is imposed on):

- ``cpo``, ``ppo_lag``, ``unconstrained``: the agents' sampled slates, the policy frozen;
- ``cpo_online``, ``ppo_lag_online``: the same trained agents deployed while they go on learning,
  one update of their algorithm per ``train_steps`` served steps, held to the same limit
  (:func:`jaxrec.agents.platform_train.serve_online`);
- ``fairco``, ``frozen_rerank``, ``quota_rerank``: the unconstrained agent's scores re-ranked by
  FairCo, by the quota on labels frozen at the first test step, and by the quota on live labels;
- ``random``, ``most_popular``: the trivial references, uniformly random slates and the items
  of the highest current popularity (decayed clicks), without a target.

``jaxrec train platform`` writes the frame, summary and plots of this module. The settings, the
world and the envs are built in :mod:`jaxrec.experiments.platform_long_run_setup`.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from jaxrec.agents.platform_cpo import policy_scores
from jaxrec.agents.platform_train import (
    AGENT_SCORES,
    FAIRCO,
    FROZEN,
    LONG_RUN_SERIES,
    PLAIN,
    POPULAR_SCORES,
    QUOTA,
    RANDOM_SCORES,
    Serving,
    WorldsAgentEnv,
    serve_long_run,
    serve_online,
)
from jaxrec.agents.train import make_train
from jaxrec.experiments.fcpo import train_grid, train_log_frame
from jaxrec.experiments.platform_long_run_setup import (
    LongRunExperiment,
    build_world,
    make_envs,
    train_config,
)
from jaxrec.metrics.bootstrap import (
    CI_LEVEL,
    block_resample_counts,
    percentile_interval,
    significant,
    weighted_mean,
)

METHODS = (
    "cpo",
    "ppo_lag",
    "cpo_online",
    "ppo_lag_online",
    "fairco",
    "frozen_rerank",
    "quota_rerank",
    "unconstrained",
    "random",
    "most_popular",
)
# served without a target: the unconstrained agent and the trivial references
UNTARGETED = ("unconstrained", "random", "most_popular")


def run_long_run(e: LongRunExperiment, progress: bool = True):
    """Train, then serve every method for ``e.test_steps`` steps per target and seed.

    Returns ``(frame, training)``: the tidy frame (one row per method, target, seed, world
    served and test step: ``method, target, seed, world, step`` and :data:`LONG_RUN_SERIES`; the
    untargeted methods' rows have target NaN) and the training log (one row per trained method,
    target, seed and iteration: ``method, target, seed, iteration, head_per_slate`` (the
    iteration's mean episode cost per served slate, the constrained quantity) and
    :data:`jaxrec.agents.train.TRAINING_METRICS`).
    """
    world = build_world(e)
    test_env, train_env, params = make_envs(e, world)
    limits = [t * e.train_steps for t in e.targets]
    agents, curves = {}, []
    for algorithm, name, grid in (
        ("cpo", "cpo", [*limits, math.inf]),
        ("ppo-lag", "ppo_lag", limits),
    ):
        config = train_config(e, algorithm)
        runner, log = train_grid(
            config, train_env, params, grid, e.seeds, progress=progress, reset_every=e.reset_every
        )
        agents[name] = (config, runner)
        labels = [(name, target) for target in e.targets]
        if algorithm == "cpo":
            labels.append(("unconstrained", math.nan))
        for index, (method, target) in enumerate(labels):
            log_of_limit = {metric: values[index] for metric, values in log.items()}
            curves.append(train_log_frame(log_of_limit, method=method, target=target))
    training = pd.concat(curves, ignore_index=True)
    training.insert(4, "head_per_slate", training.episode_cost / e.train_steps)
    config, cpo_policies = agents["cpo"][0], agents["cpo"][1].policy
    ppo_policies = agents["ppo_lag"][1].policy
    n_targets = len(e.targets)
    # one row per served run: (method, target index, which policy table, row in it, serving mode,
    # scorer); the untargeted rows (index -1) serve the unconstrained agent's policy row
    runs = [
        ("unconstrained", -1, 0, n_targets, PLAIN, AGENT_SCORES),
        ("random", -1, 0, n_targets, PLAIN, RANDOM_SCORES),
        ("most_popular", -1, 0, n_targets, PLAIN, POPULAR_SCORES),
    ]
    for index in range(n_targets):
        runs += [
            ("cpo", index, 0, index, PLAIN, AGENT_SCORES),
            ("ppo_lag", index, 1, index, PLAIN, AGENT_SCORES),
            ("fairco", index, 0, n_targets, FAIRCO, AGENT_SCORES),
            ("frozen_rerank", index, 0, n_targets, FROZEN, AGENT_SCORES),
            ("quota_rerank", index, 0, n_targets, QUOTA, AGENT_SCORES),
        ]
    method, target_index, table, pick, mode, scorer = (
        np.asarray(c) for c in zip(*runs, strict=True)
    )
    ppo_rows = np.minimum(pick, n_targets - 1)

    def of_runs(cpo_table, ppo_table):
        """Per served run, the row of the CPO table (leaves [targets + 1, ...]) or of the
        PPO-Lagrangian table (leaves [targets, ...]) it serves."""
        return jax.tree.map(
            lambda c, p: jnp.where(
                jnp.asarray(table == 1).reshape(-1, *([1] * (c.ndim - 1))), p[ppo_rows], c[pick]
            ),
            cpo_table,
            ppo_table,
        )

    policies = of_runs(cpo_policies, ppo_policies)
    # the worlds each run serves under test_world="continue": its agent's training worlds
    worlds = (
        of_runs(agents["cpo"][1].world, agents["ppo_lag"][1].world)
        if e.serves_training_worlds
        else None
    )
    targets = np.where(target_index >= 0, np.asarray(e.targets)[target_index], e.target)
    serving = Serving(
        mode=jnp.asarray(mode, jnp.int32),
        head_ratio=jnp.asarray(targets / e.slate_size, jnp.float32),
        gain=jnp.full(len(runs), e.fairco_gain, jnp.float32),
        scorer=jnp.asarray(scorer, jnp.int32),
    )
    test_keys = jax.random.split(jax.random.key(e.world_seed + 1000), e.seeds)

    def serve(policy, key, serving, params, worlds):
        """One seed's run: f32[worlds served, steps] per series."""
        scores = policy_scores(policy, config, test_env)
        if worlds is None:
            series = serve_long_run(key, test_env, params, scores, e.test_steps, serving)
            return jax.tree.map(lambda x: x[None], series)

        def one(index):
            world = train_env.world(worlds, index)
            key_of_world = jax.random.fold_in(key, index)
            return serve_long_run(
                key_of_world, test_env, params, scores, e.test_steps, serving, world
            )

        # one world at a time: the memory of a fresh test, whatever the number of worlds
        return jax.lax.map(one, jnp.arange(e.n_worlds))

    over_seeds = jax.vmap(serve, in_axes=(0, 0, None, None, 0))
    series = jax.jit(jax.vmap(over_seeds, in_axes=(0, None, 0, None, 0)))(
        policies, test_keys, serving, params, worlds
    )
    series = jax.device_get(series)
    frames = [
        _series_frame(series, index, name, int(target_index[index]), e)
        for index, name in enumerate(method)
    ]
    serving_env = train_env if e.serves_training_worlds else WorldsAgentEnv(test_env, 1)
    online = _serve_online(agents, serving_env, params, test_keys, limits, e)
    for name, series in online.items():
        frames += [
            _series_frame(series, index, f"{name}_online", index, e) for index in range(n_targets)
        ]
    return pd.concat(frames, ignore_index=True), training


def _serve_online(
    agents: dict, env: WorldsAgentEnv, params, test_keys, limits: list[float], e: LongRunExperiment
) -> dict:
    """Each trained constrained agent (per target and seed) deployed while it goes on learning
    (:func:`jaxrec.agents.platform_train.serve_online`) on ``env``: a one-world env serves the
    seed's fresh test world, the training env the agent's own training worlds; held to its
    training limit (``limits``, one per target). Per agent name, :data:`LONG_RUN_SERIES`
    f32[targets, seeds, worlds served, test_steps]."""
    limits = jnp.asarray(limits, jnp.float32)
    out = {}
    for name in ("cpo", "ppo_lag"):
        config, runner = agents[name]
        trainer = make_train(config, env, params, record=env.record)
        runners = jax.tree.map(lambda x: x[: len(e.targets)], runner)  # drop CPO's no-limit row

        def serve(runner, key, limit, trainer=trainer):
            fresh = not e.serves_training_worlds
            return serve_online(key, trainer, runner, limit, params, e.test_steps, fresh)

        over_seeds = jax.vmap(serve, in_axes=(0, 0, None))
        out[name] = jax.device_get(
            jax.jit(jax.vmap(over_seeds, in_axes=(0, None, 0)))(runners, test_keys, limits)
        )
    return out


def _series_frame(series, index: int, method: str, target_index: int, e: LongRunExperiment):
    """Rows of one served run: ``series[name][index]`` f[seeds, worlds, test_steps] as tidy
    rows."""
    seeds, worlds, steps = np.asarray(series["head_per_slate"][index]).shape
    seed, world, step = np.meshgrid(
        np.arange(seeds), np.arange(worlds), np.arange(steps), indexing="ij"
    )
    return pd.DataFrame(
        {
            "method": method,
            "target": e.targets[target_index] if target_index >= 0 else math.nan,
            "seed": seed.ravel(),
            "world": world.ravel(),
            "step": step.ravel(),
            **{name: np.asarray(series[name][index]).ravel() for name in LONG_RUN_SERIES},
        }
    )


def _mean_ci(values: np.ndarray) -> dict[str, float]:
    """Mean and 95% t-interval half-width over seeds (NaN half-width for one seed)."""
    from scipy import stats

    values = np.asarray(values, float)
    n = len(values)
    half = float(stats.t.ppf(0.975, n - 1) * values.std(ddof=1) / np.sqrt(n)) if n > 1 else math.nan
    return {"mean": float(values.mean()), "ci95": half}


TAIL_FIGURES = ("head_per_slate", "clicks", "exposure_gini", "active_producers")
# learned methods differenced against FairCo, the dynamic baseline they have to beat
AGAINST_FAIRCO = ("cpo", "ppo_lag", "cpo_online", "ppo_lag_online")
# the bar: head items per slate within +-5% of the target
TARGET_BAND = 0.05


def summarise(
    frame: pd.DataFrame,
    training: pd.DataFrame,
    e: LongRunExperiment,
    n_draws: int = 2000,
    block: int = 25,
    seed: int = 0,
) -> dict:
    """Per method at ``e.target`` (the untargeted methods have none): means over the last half of
    the test (``*_tail``) and over the first 50 steps (``head_per_slate_early``); the training
    cost per slate (mean over the last fifth of the iterations of ``training``,
    :func:`run_long_run`'s log) against the target for the trained methods; the same for every
    target (``by_target``).

    Each mean carries two 95% intervals: ``ci95``, the t-interval over the seeds' means (one test
    world per seed), and ``ci_low``/``ci_high``, a percentile bootstrap over the test samples:
    ``n_draws`` resamples of the seeds, then of blocks of ``block`` consecutive test steps within
    each (:func:`jaxrec.metrics.block_resample_counts`). Every method shares the draws, so
    ``differences`` (each learned method minus FairCo, per tail figure) are paired, marked
    ``significant`` where their interval excludes 0. ``on_target`` says whether the bootstrap
    interval of the tail's head items per slate lies ``inside`` the target's +-5% band, wholly
    ``outside`` it, or is ``undecided``."""
    tail_start = e.test_steps // 2
    n_tail = e.test_steps - tail_start
    by_world = frame
    # the worlds served, averaged per step (a frame of an earlier jaxrec, without a world column,
    # served one world per seed)
    if "world" in frame:
        keys = ["method", "target", "seed", "step"]
        series = [name for name in LONG_RUN_SERIES if name in frame]
        frame = frame.groupby(keys, dropna=False, sort=False)[series].mean()
        frame = frame.reset_index()
    resampled = block_resample_counts(jax.random.key(seed), e.seeds, n_tail, block, n_draws)
    # row 0 weighs every sample once: the estimate on the test as served
    counts = jnp.concatenate([jnp.ones((1, e.seeds * n_tail)), resampled])

    def tail_draws(rows: pd.DataFrame) -> dict[str, np.ndarray]:
        late = rows[rows.step >= tail_start].sort_values(["seed", "step"])
        draws = np.asarray(weighted_mean(late[list(TAIL_FIGURES)].to_numpy().T, counts), float)
        return dict(zip(TAIL_FIGURES, draws.T, strict=True))

    def interval(draws: np.ndarray) -> dict[str, float]:
        low, high = percentile_interval(draws[1:])
        return {"ci_low": float(low), "ci_high": float(high)}

    def tails(rows: pd.DataFrame) -> dict:
        late = rows[rows.step >= tail_start].groupby("seed")
        early = rows[rows.step < min(50, e.test_steps)].groupby("seed")
        draws = tail_draws(rows)
        out = {
            f"{name}_tail": _mean_ci(late[name].mean().to_numpy()) | interval(draws[name])
            for name in TAIL_FIGURES
        }
        out["head_per_slate_early"] = _mean_ci(early["head_per_slate"].mean().to_numpy())
        return out

    def world_spread(method: str, target: float) -> dict:
        """The tail's head items per slate of each world served (each seed's): their range."""
        rows = rows_of(method, target, by_world)
        if "world" not in rows or rows.world.nunique() < 2:
            return {}
        late = rows[rows.step >= tail_start].groupby(["seed", "world"]).head_per_slate.mean()
        spread = {"min": late.min(), "median": late.median(), "max": late.max()}
        return {"head_per_slate_tail_by_world": {k: float(v) for k, v in spread.items()}}

    def against_target(entry: dict, target: float) -> dict:
        tail = entry["head_per_slate_tail"]
        low, high = target * (1 - TARGET_BAND), target * (1 + TARGET_BAND)
        if low <= tail["ci_low"] and tail["ci_high"] <= high:
            verdict = "inside"
        elif tail["ci_high"] < low or tail["ci_low"] > high:
            verdict = "outside"
        else:
            verdict = "undecided"
        return {
            "target": target,
            "tail_off_target": tail["mean"] / target - 1,
            "on_target": verdict,
        }

    def differences(target: float) -> dict:
        fairco = tail_draws(rows_of("fairco", target))
        out = {}
        for method in AGAINST_FAIRCO:
            draws = tail_draws(rows_of(method, target))
            cells = {}
            for name in TAIL_FIGURES:
                difference = draws[name] - fairco[name]
                cell = {"mean": float(difference[0])} | interval(difference)
                cell["significant"] = bool(significant(cell["ci_low"], cell["ci_high"]))
                cells[f"{name}_tail"] = cell
            out[f"{method}-fairco"] = cells
        return out

    late_start = e.iterations - max(1, e.iterations // 5)

    def trained(method: str, target: float) -> dict:
        rows = training[
            (training.method == method.removesuffix("_online"))  # the agent it deploys
            & (training.target == target)
            & (training.iteration >= late_start)
        ]
        if rows.empty:
            return {}
        cost = _mean_ci(rows.groupby("seed").head_per_slate.mean().to_numpy())
        return {"train_head_per_slate": cost, "train_cost_over_limit": cost["mean"] / target - 1}

    def rows_of(method: str, target: float, source: pd.DataFrame | None = None) -> pd.DataFrame:
        """The rows of ``method`` at ``target`` in ``source`` (default: the frame averaged over
        the worlds served)."""
        source = frame if source is None else source
        if method in UNTARGETED:
            return source[source.method == method]
        return source[(source.method == method) & (source.target == target)]

    def at_target(method: str, target: float) -> dict:
        entry = tails(rows_of(method, target)) | world_spread(method, target)
        if method in UNTARGETED:
            return entry
        return entry | against_target(entry, target) | trained(method, target)

    # a frame of an earlier jaxrec may lack the trivial references
    served = [method for method in METHODS if method in set(frame.method)]
    targeted = [method for method in served if method not in UNTARGETED]
    return {
        "experiment": dataclasses.asdict(e),
        "target": e.target,
        "tail_steps": [tail_start, e.test_steps - 1],
        "bootstrap": {"draws": n_draws, "block_steps": block, "level": CI_LEVEL},
        "methods": {method: at_target(method, e.target) for method in served},
        "differences": differences(e.target),
        "by_target": {
            str(target): {
                "methods": {method: at_target(method, target) for method in targeted},
                "differences": differences(target),
            }
            for target in e.targets
        },
    }


def format_summary(summary: dict) -> str:
    """The summary as plain text: one row per method (tails with their bootstrap interval over
    test samples, the head items' verdict against the +-5% band, the training cost), then the
    learned methods' paired differences from FairCo (``*``: the interval excludes 0)."""

    def cell(entry: dict | None) -> str:
        if not entry:
            return "-"
        if "ci_low" in entry:
            return f"{entry['mean']:.3f} [{entry['ci_low']:.3f}, {entry['ci_high']:.3f}]"
        half = entry["ci95"]
        return f"{entry['mean']:.3f}" + ("" if math.isnan(half) else f" ± {half:.3f}")

    boot = summary["bootstrap"]
    lines = [
        f"target: {summary['target']} head items per slate; tail = test steps "
        f"{summary['tail_steps'][0]}-{summary['tail_steps'][1]}; [95% bootstrap interval over "
        f"seeds and {boot['block_steps']}-step blocks of the tail]; train ± 95% t over seeds",
        f"{'method':<14} {'head/slate early':>17} {'head/slate tail':>23} {'±5%?':>9} "
        f"{'clicks tail':>23} {'exposure Gini tail':>23} {'train head/slate':>17} "
        f"{'tail by world':>14}",
    ]
    for method, entry in summary["methods"].items():
        spread = entry.get("head_per_slate_tail_by_world")
        by_world = f"{spread['min']:.2f}-{spread['max']:.2f}" if spread else "-"
        lines.append(
            f"{method:<14} {cell(entry['head_per_slate_early']):>17} "
            f"{cell(entry['head_per_slate_tail']):>23} {entry.get('on_target', '-'):>9} "
            f"{cell(entry['clicks_tail']):>23} {cell(entry['exposure_gini_tail']):>23} "
            f"{cell(entry.get('train_head_per_slate')):>17} {by_world:>14}"
        )
    lines.append("difference from fairco (paired bootstrap; * significant)")
    for pair, cells in summary["differences"].items():
        parts = [
            f"{name.removesuffix('_tail')} {c['mean']:+.3f} [{c['ci_low']:+.3f}, "
            f"{c['ci_high']:+.3f}]{'*' if c['significant'] else ' '}"
            for name, c in cells.items()
            if name != "active_producers_tail"
        ]
        lines.append(f"  {pair:<22} " + "  ".join(parts))
    return "\n".join(lines)


PANELS = (
    ("head_per_slate", "head items per slate (current labels)"),
    ("clicks", "clicks per served user per step"),
    ("exposure_gini", "exposure Gini (recent, live items)"),
)


def plot_long_run(frame: pd.DataFrame, e: LongRunExperiment, window: int = 10):
    """Head items per slate (with the target), clicks and exposure Gini over the test, per method
    at ``e.target`` (mean over seeds, rolling mean over ``window`` steps)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(15, 4))
    axes = fig.subplots(1, 3)
    rows = frame[(frame.target == e.target) | frame.target.isna()]
    for ax, (column, title) in zip(axes, PANELS, strict=True):
        for method in METHODS:
            curve = rows[rows.method == method].groupby("step")[column].mean()
            ax.plot(curve.index, curve.rolling(window, min_periods=1).mean(), label=method)
        ax.set_title(title)
        ax.set_xlabel("test step")
    axes[0].axhline(e.target, color="black", linestyle="--", label=f"target {e.target:g}")
    axes[0].legend(fontsize=8)
    served = f"the {e.n_worlds} training worlds" if e.serves_training_worlds else "a fresh world"
    fig.suptitle(
        f"{e.data} world: labels recomputed every {e.relabel_every} steps, popularity_beta "
        f"{e.popularity_beta:g}; {e.seeds} seeds, each serving {served}"
    )
    fig.tight_layout()
    return fig


def plot_training(training: pd.DataFrame, e: LongRunExperiment):
    """Learning curves: each trained method's head items per slate and episode return per
    iteration at ``e.target``, and PPO-Lagrangian's multiplier (mean over seeds, the seeds' range
    shaded), with the target line and the periodic resets of the training worlds marked, so a
    reader sees whether training converged to the limit and whether the multiplier wound up."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(15, 4))
    axes = fig.subplots(1, 3)
    rows = training[(training.target == e.target) | training.target.isna()]
    trained = ("cpo", "ppo_lag", "unconstrained")
    colour = {method: f"C{index}" for index, method in enumerate(trained)}  # same in every panel
    panels = [
        (axes[0], "head_per_slate", trained),
        (axes[1], "episode_return", trained),
        (axes[2], "multiplier", ("ppo_lag",)),
    ]
    for ax, column, methods in panels:
        for method in methods:
            by_iteration = rows[rows.method == method].groupby("iteration")[column]
            mean = by_iteration.mean()
            ax.plot(mean.index, mean, label=method, color=colour[method])
            low, high = by_iteration.min(), by_iteration.max()
            ax.fill_between(mean.index, low, high, alpha=0.2, color=colour[method])
        resets = range(e.reset_every, e.iterations, e.reset_every) if e.reset_every else ()
        for reset in resets:
            ax.axvline(reset, color="grey", linewidth=0.5)
        ax.set_xlabel("training iteration")
    axes[0].axhline(e.target, color="black", linestyle="--", label=f"target {e.target:g}")
    axes[0].set_title("head items per served slate in training")
    axes[1].set_title(f"episode return ({e.train_steps} steps)")
    axes[2].set_title("PPO-Lagrangian's multiplier")
    axes[0].legend(fontsize=8)
    fig.suptitle(f"training on {e.n_worlds} continuing worlds (grey: fresh worlds)")
    fig.tight_layout()
    return fig


def plot_tradeoff(frame: pd.DataFrame, e: LongRunExperiment):
    """Tail clicks against tail exposure Gini (means over seeds) for every method and target."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.5, 4.5))
    ax = fig.subplots()
    late = frame[frame.step >= e.test_steps // 2]
    for method in METHODS:
        rows = late[late.method == method]
        points = rows.groupby("target", dropna=False)[["exposure_gini", "clicks"]].mean()
        ax.plot(points.exposure_gini, points.clicks, marker="o", label=method)
        for target, point in points.iterrows():
            if not math.isnan(target):
                ax.annotate(f"{target:g}", (point.exposure_gini, point.clicks), fontsize=7)
    ax.set_xlabel("exposure Gini, last half of the test")
    ax.set_ylabel("clicks per served user per step, last half")
    ax.set_title("trade-off over targets (head items per slate, annotated)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def write_results(
    out, frame: pd.DataFrame, training: pd.DataFrame, summary: dict, e: LongRunExperiment
) -> list[str]:
    """Write ``long_run.parquet``, ``training.parquet`` (:func:`run_long_run`'s training log),
    ``summary.json``, ``long_run.png``, ``training.png`` and ``tradeoff.png`` into ``out`` (each
    atomically); returns the file names."""
    from pathlib import Path

    from jaxrec.io import save_figure, write_json, write_parquet

    out = Path(out)
    write_parquet(out / "long_run.parquet", frame)
    write_parquet(out / "training.parquet", training)
    write_json(out / "summary.json", summary)
    save_figure(out / "long_run.png", plot_long_run(frame, e))
    save_figure(out / "training.png", plot_training(training, e))
    save_figure(out / "tradeoff.png", plot_tradeoff(frame, e))
    return [
        "long_run.parquet",
        "training.parquet",
        "summary.json",
        "long_run.png",
        "training.png",
        "tradeoff.png",
    ]
