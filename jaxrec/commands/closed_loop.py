"""``jaxrec closed-loop``: a learned scorer retrained on its own logs, with and without a marketplace
policy; writes the health table, the alerts, plots and a dashboard page."""

from __future__ import annotations

import argparse
import base64
import dataclasses
import html
from pathlib import Path
from typing import Any

from jaxrec.commands._options import add_allow_large, fraction, nonnegative_int
from jaxrec.commands._outputs import add_out_option

# (column, title) of each dashboard plot over time
DASHBOARD_PLOTS = (
    ("top1_share", "top-1% share of recent exposure"),
    ("producer_gini", "producer Gini of recent exposure"),
    ("item_gini", "item Gini of recent exposure"),
    ("head_slate_share", "head-group items per item shown"),
    ("empty_positions", "slate positions left empty (floors)"),
    ("longtail_exposure", "long-tail share of exposure"),
    ("longtail_clicks", "long-tail share of clicks"),
    ("longtail_coverage", "long-tail items ever shown"),
    ("new_item_wait", "new items: steps to first impression"),
    ("active_producers", "active producers"),
    ("clicks_per_user", "clicks per served user"),
    ("clicks_niche", "clicks per niche user"),
    ("clicks_mainstream", "clicks per mainstream user"),
)
SUMMARY_METRICS = (
    "clicks_per_user",
    "top1_share",
    "producer_gini",
    "head_slate_share",
    "empty_positions",
    "longtail_exposure",
    "longtail_coverage",
    "new_item_wait",
    "active_producers",
)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "closed-loop",
        help="learned scorer retrained on its own logs, marketplace re-ranking, health dashboard",
        description="Simulate worlds whose recommender is a learned scorer retrained every W steps "
        "on the interactions it caused, without and (with --policy) with a marketplace re-ranking "
        "policy. Writes DIR/metrics.parquet (one row per run, world and step), DIR/alerts.json, "
        "DIR/summary.json, PNG plots and DIR/dashboard.html embedding them.",
    )
    parser.add_argument("--policy", help="marketplace policy TOML (re-ranking and alert rules)")
    parser.add_argument("--scorer", choices=("mf", "fm", "aafm"), default="mf")
    parser.add_argument("--steps", type=int, default=500, help="horizon (default 500)")
    parser.add_argument("--worlds", type=int, default=4, help="parallel worlds (default 4)")
    parser.add_argument("--users", type=int, default=512, help="users per step (default 512)")
    parser.add_argument("--items", type=int, default=1000, help="catalogue slots (default 1000)")
    parser.add_argument("--producers", type=int, default=64)
    parser.add_argument("--slate", type=int, default=10)
    parser.add_argument("--retrain-every", type=int, default=50)
    parser.add_argument("--updates", type=int, default=50, help="optax steps per retrain")
    parser.add_argument("--epsilon", type=fraction, default=0.0, help="exploration probability")
    parser.add_argument("--seed", type=nonnegative_int, default=0)
    parser.add_argument("--chunk", type=int, default=100, help="steps per compiled chunk")
    add_out_option(
        parser, required=False, help="output folder (required unless printing the example)"
    )
    parser.add_argument(
        "--alerts-per-world",
        action="store_true",
        help="judge alert rules on each world's series and report the first world to breach "
        "(default: on the mean over worlds)",
    )
    add_allow_large(parser)
    parser.add_argument(
        "--print-example-policy",
        action="store_true",
        help="print the commented example policy file and exit",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    parser.set_defaults(func=run, validate=validate)


def evaluate_alerts(frame, rules, per_world: bool = False) -> dict[str, list[dict[str, Any]]]:
    """Alert reports per run: on the mean over worlds of each metric at each step, or with
    ``per_world`` on each world's own series, reporting the world that breached first (its
    record gains ``world``; ``steps_in_breach`` is that world's count)."""
    from jaxrec.metrics.alerts import evaluate_rules

    reports = {}
    for run_name, part in frame.groupby("run", sort=False):
        if not per_world:
            mean = part.groupby("step").mean(numeric_only=True)
            reports[str(run_name)] = evaluate_rules(rules, mean, mean.index.to_numpy())
            continue
        by_world = {
            int(world): evaluate_rules(rules, rows, rows["step"].to_numpy())
            for world, rows in part.sort_values("step").groupby("world", sort=True)
        }
        first = []
        for i in range(len(rules)):
            fired = [(r[i]["step"], w) for w, r in by_world.items() if r[i]["fired"]]
            world = min(fired)[1] if fired else next(iter(by_world))
            first.append({**by_world[world][i], "world": world})
        reports[str(run_name)] = first
    return reports


def summarize_runs(frame, fraction: float = 0.1):
    """Mean over worlds of :data:`SUMMARY_METRICS` over the first and the last ``fraction`` of
    steps, one row per run (columns ``<metric>_early`` and ``<metric>_late``)."""
    last = frame["step"].max()
    early = frame[frame["step"] <= max(1, round(last * fraction))]
    late = frame[frame["step"] > last * (1.0 - fraction)]
    columns = list(SUMMARY_METRICS)
    result = early.groupby("run", sort=False)[columns].mean().add_suffix("_early")
    return result.join(late.groupby("run", sort=False)[columns].mean().add_suffix("_late"))


def plot_buckets(frame, path: Path) -> Path:
    """Stacked shares of step exposure by popularity bucket over time, one panel per run."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from jaxrec.io import save_figure

    runs = list(dict.fromkeys(frame["run"]))
    fig, axes = plt.subplots(1, len(runs), figsize=(5.2 * len(runs), 3.6), squeeze=False)
    buckets = ["exposure_head", "exposure_torso", "exposure_tail", "exposure_cold"]
    for ax, run_name in zip(axes[0], runs, strict=True):
        mean = frame[frame["run"] == run_name].groupby("step")[buckets].mean()
        ax.stackplot(mean.index, mean.T.values, labels=[b.split("_")[1] for b in buckets])
        ax.set_title(f"{run_name}: exposure by popularity bucket")
        ax.set_xlabel("step")
        ax.set_ylim(0, 1)
    axes[0][-1].legend(loc="upper right", fontsize=8)
    return save_figure(path, fig)


def plot_producers(producer_exposure: dict[str, Any], path: Path) -> Path:
    """Cumulative exposure per producer (world 0), most exposed first, one line per run."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    import numpy as np

    from jaxrec.io import save_figure

    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for run_name, exposure in producer_exposure.items():
        shares = np.sort(np.asarray(exposure, np.float64))[::-1]
        ax.plot(np.arange(1, shares.size + 1), shares / max(shares.sum(), 1e-12), label=run_name)
    ax.set_xlabel("producer rank")
    ax.set_ylabel("share of cumulative exposure")
    ax.set_title("exposure by producer (world 0)")
    ax.grid(alpha=0.3)
    ax.legend(title="run")
    return save_figure(path, fig)


def write_dashboard(
    frame,
    alerts: dict[str, list[dict[str, Any]]],
    out: str | Path,
    title: str,
    about: str = "",
    producer_exposure: dict[str, Any] | None = None,
) -> Path:
    """Write one PNG per plot of :data:`DASHBOARD_PLOTS` (lines per run), the bucket plot and,
    given ``producer_exposure`` (run -> f[P] cumulative exposure), the producer plot into ``out``,
    and ``out/dashboard.html`` embedding them (self-contained: images inlined as base64) with the
    alerts and the early/late summary. Returns the page's path."""
    from jaxrec.io import atomic_path
    from jaxrec.plots import plot_metric_over_time

    out = Path(out)
    figures = [plot_buckets(frame, out / "exposure_buckets.png")]
    if producer_exposure:
        figures.append(plot_producers(producer_exposure, out / "producer_exposure.png"))
    for metric, label in DASHBOARD_PLOTS:
        figures.append(plot_metric_over_time(frame, metric, out / f"{metric}.png", "run", label))
    rows = []
    for run_name, reports in alerts.items():
        for r in reports:
            fired = f"step {r['step']} (value {r['value']:.4g})" if r["fired"] else "did not fire"
            where = f" in world {r['world']}" if "world" in r else ""
            rows.append(
                f"<tr><td>{html.escape(run_name)}</td><td>{html.escape(r['name'])}</td>"
                f"<td>{html.escape(r['metric'])} {html.escape(r['op'])} {r['threshold']:g}"
                f" for {r['for_steps']} step(s) after step {r.get('warmup', 0)}</td>"
                f"<td>{fired}{where}</td>"
                f"<td>{r['steps_in_breach']}</td></tr>"
            )
    summary = summarize_runs(frame).to_html(float_format=lambda x: f"{x:.4g}")
    images = "\n".join(
        f'<figure><img alt="{p.stem}" src="data:image/png;base64,'
        f'{base64.b64encode(p.read_bytes()).decode()}"><figcaption>{p.name}</figcaption></figure>'
        for p in figures
    )
    page = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:2em}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px}} figure{{display:inline-block;margin:8px}}
img{{max-width:560px}}</style></head><body>
<h1>{html.escape(title)}</h1><p>{html.escape(about)}</p>
<h2>Alerts</h2>
<table><tr><th>run</th><th>alert</th><th>rule</th><th>fired at</th><th>steps in breach</th></tr>
{"".join(rows) or "<tr><td colspan=5>no alert rules</td></tr>"}</table>
<h2>Summary (mean over worlds; first and last 10% of steps)</h2>
{summary}
<h2>Marketplace health over time (mean over worlds, band = min-max)</h2>
{images}
</body></html>
"""
    path = out / "dashboard.html"
    with atomic_path(path) as tmp:
        tmp.write_text(page)
    return path


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    from jaxrec.agents.closed_loop import LoopConfig, run_closed_loop
    from jaxrec.agents.marketplace import EXAMPLE_POLICY_PATH
    from jaxrec.commands._outputs import claim_out, finish_out
    from jaxrec.data import synthetic_world
    from jaxrec.envs.platform import PlatformEnv
    from jaxrec.io import write_json, write_parquet

    if args.print_example_policy:
        print(EXAMPLE_POLICY_PATH.read_text(), end="")
        return 0
    policy = validate(args)
    config = LoopConfig(
        scorer=args.scorer,
        retrain_every=args.retrain_every,
        updates=args.updates,
        epsilon=args.epsilon,
    )
    world = synthetic_world(
        args.seed, n_users=args.users, n_items=args.items, n_producers=args.producers
    )
    env = PlatformEnv(n_users=args.users, slate_size=args.slate, log_steps=args.retrain_every)
    params = env.default_params(world)
    if args.policy:
        check_floors(policy, world)
    runs = {args.scorer: None}
    if args.policy:
        runs[f"{args.scorer}+policy"] = policy.params()
    frames, producer_exposure = [], {}
    for run_name, rerank_params in runs.items():
        frame, carry = run_closed_loop(
            env, params, config, rerank_params, args.worlds, args.steps, args.seed, args.chunk,
            progress=not args.no_progress, desc=run_name,
        )  # fmt: skip
        frames.append(frame.assign(run=run_name))
        producer_exposure[run_name] = carry.state.producer_exposure[0]
    frame = pd.concat(frames, ignore_index=True)
    out = claim_out(args.out, "closed-loop", overwrite=args.overwrite)
    write_parquet(out / "metrics.parquet", frame)
    alerts = evaluate_alerts(frame, policy.alerts, per_world=args.alerts_per_world)
    write_json(out / "alerts.json", alerts)
    summary = summarize_runs(frame)
    write_json(
        out / "summary.json",
        {
            "scorer": args.scorer,
            "policy": policy.source,
            "env": repr(env),
            "loop": dataclasses.asdict(config),
            "steps": args.steps,
            "worlds": args.worlds,
            "summary": summary.reset_index().to_dict(orient="records"),
        },
    )
    judged = (
        "each world's own series (the first world to breach is shown)"
        if args.alerts_per_world
        else "the mean over worlds (--alerts-per-world judges each world)"
    )
    about = (
        f"scorer {args.scorer}, retrained every {args.retrain_every} steps; policy "
        f"{policy.source}; {args.worlds} worlds x {args.steps} steps; {env!r}. Alerts are judged "
        f"on {judged}."
    )
    page = write_dashboard(
        frame, alerts, out, "jaxrec closed loop: marketplace health", about, producer_exposure
    )
    with pd.option_context("display.width", 160, "display.max_columns", None):
        print(summary.T.to_string(float_format=lambda x: f"{x:.4g}"))
    for run_name, reports in alerts.items():
        for r in reports:
            when = f"fired at step {r['step']}" if r["fired"] else "did not fire"
            print(f"alert [{run_name}] {r['name']}: {when}")
    finish_out(out)
    empty = frame.groupby("run", sort=False)["empty_positions"].mean()
    for run_name, share in empty.items():
        if share > 0:
            print(
                f"warning [{run_name}]: {share:.1%} of slate positions stayed empty: the policy's "
                "floors passed fewer items than the slate size (lower floors.relevance or "
                "floors.quality to fill them)"
            )
    print(f"wrote {out}/metrics.parquet, alerts.json, summary.json, plots and {page.name}")
    return 0


def validate(args: argparse.Namespace):
    """Check the options, the policy file, ``--out`` and the memory estimate; write nothing.
    Returns the marketplace policy."""
    from jaxrec.agents.marketplace import default_policy, load_policy
    from jaxrec.commands._outputs import check_out
    from jaxrec.commands._sizes import check_fits, platform_bytes

    check_out(args.out, "closed-loop", overwrite=args.overwrite)
    policy = load_policy(args.policy) if args.policy else default_policy()
    policy.check_slate_size(args.slate)
    runs = 2 if args.policy else 1
    check_fits(
        platform_bytes(
            n_users=args.users,
            n_items=args.items,
            dim=32,
            slate_size=args.slate,
            n_worlds=args.worlds * runs,
            chunk=args.chunk,
            log_steps=args.retrain_every,
        ),
        f"{args.worlds} world(s) of {args.users} users x {args.items} items",
        allow_large=args.allow_large,
    )
    return policy


def check_floors(policy, world) -> None:
    """Refuse a policy whose quality floor no live item of ``world`` meets (every slate would be
    empty). The relevance floor depends on the learned scorer, so it is checked as the run goes:
    the ``empty_positions`` health metric counts what the floors left empty."""
    import numpy as np

    from jaxrec.errors import ConfigError

    floor = float(policy.sections["floors"]["quality"])
    quality = np.asarray(world.item_quality)[np.asarray(world.item_alive)]
    passing = int((quality >= floor).sum())
    if passing == 0:
        raise ConfigError(
            "floors.quality",
            f"{floor:g} is above the quality of every live item (best {quality.max():.3g}); "
            "every slate would be empty",
        )
