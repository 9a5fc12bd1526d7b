"""Sweep reports: per-point mean and Student-t CI over seeds, against scipy; plots and CLI."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from jaxrec.cli import main
from jaxrec.errors import ConfigError
from jaxrec.sweep.report import summarise, t_quantile_975, write_report


@pytest.mark.parametrize("df", [1, 2, 5, 10, 29, 30, 31, 60, 200, 5000])
def test_t_quantile_matches_scipy(df):
    assert t_quantile_975(df) == pytest.approx(stats.t.ppf(0.975, df), rel=2e-3)


def _results(seed: int = 0) -> pd.DataFrame:
    """A tidy table of 3 points x 4 seeds x 5 logged steps with random metric values."""
    rng = np.random.default_rng(seed)
    rows = []
    for point, beta in enumerate([0.0, 0.5, 1.0]):
        for seed_value in range(4):
            for step in range(10, 60, 10):
                rows.append(
                    {
                        "run": point * 4 + seed_value,
                        "point": point,
                        "seed": seed_value,
                        "step": step,
                        "env.popularity_beta": beta,
                        "exposure_gini": rng.uniform(),
                        "reward": rng.normal(),
                    }
                )
    return pd.DataFrame(rows)


@pytest.mark.parametrize("window", [1, 3])
def test_summary_is_mean_and_t_interval_over_seeds(window):
    frame = _results()
    summary = summarise(frame, ["exposure_gini", "reward"], window=window)
    assert list(summary["env.popularity_beta"]) == [0.0, 0.5, 1.0]
    assert (summary["n_seeds"] == 4).all()
    for point in range(3):
        for metric in ("exposure_gini", "reward"):
            rows = frame[(frame["point"] == point) & (frame["step"] > 50 - 10 * window)]
            per_seed = rows.groupby("seed")[metric].mean().to_numpy()
            low, high = stats.t.interval(
                0.95, len(per_seed) - 1, loc=per_seed.mean(), scale=stats.sem(per_seed)
            )
            row = summary.iloc[point]
            assert row[f"{metric}_mean"] == pytest.approx(per_seed.mean())
            assert row[f"{metric}_ci95"] == pytest.approx((high - low) / 2, rel=1e-3)


def test_unknown_metric_is_named():
    with pytest.raises(ConfigError, match=r"^metrics: .*gini_typo"):
        summarise(_results(), ["gini_typo"])


def test_report_command_writes_summary_and_plots(tmp_path, capsys):
    (tmp_path / "metrics.parquet").mkdir()
    _results().to_parquet(tmp_path / "metrics.parquet" / "part-000000050-p000.parquet")
    assert main(["report", str(tmp_path), "--metrics", "exposure_gini,reward"]) == 0
    printed = capsys.readouterr().out
    assert "exposure_gini_ci95" in printed and "env.popularity_beta" in printed
    assert (tmp_path / "report" / "exposure_gini.png").stat().st_size > 1000
    written = pd.read_csv(tmp_path / "report" / "summary.csv")
    pd.testing.assert_frame_equal(
        written, summarise(_results(), ["exposure_gini", "reward"]), check_dtype=False
    )


def test_report_on_a_folder_without_results_is_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"^dir: .*no sweep results"):
        write_report(tmp_path)
