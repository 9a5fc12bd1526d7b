"""The closed loop's marketplace-health dashboard: alert reports per run, the early/late summary,
exposure plots and a self-contained HTML page embedding them (``jaxrec closed-loop`` writes it;
``notebooks/06_marketplace.ipynb`` calls the same functions)."""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

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


def summarise_runs(frame, fraction: float = 0.1):
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
    from jaxrec.experiments.plots import plot_metric_over_time
    from jaxrec.io import atomic_path

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
    summary = summarise_runs(frame).to_html(float_format=lambda x: f"{x:.4g}")
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
