"""``jaxrec train``: end to end on a tiny synthetic log, and its input errors."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from jaxrec.cli import main
from jaxrec.commands._outputs import read_marker


@pytest.mark.slow  # ~40 s: compiles MF, the vmapped trainer and the evaluation
def test_train_command_writes_results_log_and_plot(tmp_path, capsys):
    out = tmp_path / "run"
    args = [
            "train", "cpo", "--synthetic-users", "24", "--synthetic-items", "40", "--synthetic-per-user", "30",
            "--iterations", "3",
            "--seeds", "2", "--cost-limit", "2", "--dim", "4", "--mf-epochs", "2", "--out", str(out),
    ]  # fmt: skip
    code = main(args)
    assert code == 0
    results = json.loads((out / "results.json").read_text())
    assert results["seeds"] == 2 and results["cost_limit"] == 2.0
    for k in (5, 10, 20):
        for name in ("recall", "precision", "f1", "ndcg", "gini", "pop_rate"):
            entry = results["metrics"][f"{name}@{k}"]
            assert 0.0 <= entry["mean"] <= 1.0 and entry["std"] >= 0.0
    log = pd.read_parquet(out / "train_log.parquet")
    assert len(log) == 2 * 3
    assert set(log["case"]) <= {0, 1, 2, 3, 4}
    assert (out / "learning_curves.png").stat().st_size > 0
    assert "wrote" in capsys.readouterr().out
    assert read_marker(out)["complete"] is True  # marked once every file above was written
    # the saved agent, reloaded on the same data options, scores exactly the same
    again = tmp_path / "again"
    data = [*args[2:8], "--dim", "4", "--mf-epochs", "2"]
    assert (
        main(["train", "evaluate", *data, "--agent", str(out / "agent"), "--out", str(again)]) == 0
    )
    reloaded = json.loads((again / "results.json").read_text())
    assert reloaded["metrics"] == results["metrics"]


def test_train_command_needs_data_dir_for_movielens(tmp_path, capsys):
    assert main(["train", "cpo", "--data", "ml-100k", "--out", str(tmp_path)]) == 2
    assert "data_dir" in capsys.readouterr().err


def test_train_command_rejects_short_test_episodes(tmp_path, capsys):
    assert main(["train", "cpo", "--test-steps", "10", "--out", str(tmp_path)]) == 2
    assert "test_steps" in capsys.readouterr().err


@pytest.mark.parametrize("seeds", ["0"])
def test_train_command_rejects_zero_seeds(tmp_path, capsys, seeds):
    assert main(["train", "ppo-lag", "--seeds", seeds, "--out", str(tmp_path)]) == 2
    assert "seeds" in capsys.readouterr().err


TINY = [
    "--synthetic-users", "20", "--synthetic-items", "40", "--synthetic-per-user", "20",
    "--iterations", "2", "--seeds", "2", "--dim", "4", "--mf-epochs", "2",
]  # fmt: skip


@pytest.mark.slow  # ~60 s: trains CPO (two limits) and PPO-Lagrangian and scores four baselines
def test_compare_writes_the_methods_by_metrics_table(tmp_path, capsys):
    out = tmp_path / "compare"
    assert main(["train", "compare", *TINY, "--cost-limit", "2", "--out", str(out)]) == 0
    table = pd.read_csv(out / "comparison.csv").set_index("method")
    methods = {"random", "most_popular", "mf_greedy", "static_rerank", "cpo", "ppo_lag"}
    matched = "static_rerank_at_cpo_pop_rate"
    assert methods | {"cpo_unconstrained", matched} == set(table.index)
    # the matched re-ranker's head ratio comes from a grid holding the limit's ratio 0.2, so its
    # pop rate is at least as close to CPO's as the limit-matched re-ranker's
    gap = (
        table.loc[[matched, "static_rerank"], "pop_rate@10"] - table.loc["cpo", "pop_rate@10"]
    ).abs()
    assert gap[matched] <= gap["static_rerank"] + 1e-6
    # the most-popular list recommends only popular items while they last: its pop_rate@5 is 1
    assert table.loc["most_popular", "pop_rate@5"] == 1.0
    # the re-ranker is matched to the limit: 2 popular items per 10-step episode -> 4 of 20
    assert table.loc["static_rerank", "pop_rate@20"] == pytest.approx(0.2)
    results = json.loads((out / "comparison.json").read_text())
    assert results["methods"]["static_rerank"]["head_ratio"] == pytest.approx(0.2)
    assert "ndcg@10" in capsys.readouterr().out


@pytest.mark.slow  # ~60 s: CPO and PPO-Lagrangian programs over 2 limits x 2 seeds
def test_sweep_writes_the_tradeoff_curves_with_intervals(tmp_path, capsys):
    out = tmp_path / "sweep"
    args = ["--limits", "1,4", "--head-ratios", "0,0.5", "--bootstrap", "50", "--out", str(out)]
    assert main(["train", "sweep", *TINY, *args]) == 0
    results = json.loads((out / "tradeoff.json").read_text())
    assert set(results["protocols"]) == {"seen_allowed", "exclude_seen"}
    for summary in results["protocols"].values():
        rows = summary["rows"]
        settings = {(r["method"], r["setting"]) for r in rows if r["method"] != "mf_greedy"}
        assert {("cpo", 1.0), ("cpo", 4.0), ("ppo_lag", 1.0), ("ppo_lag", 4.0)} <= settings
        assert {("static_rerank", 0.0), ("static_rerank", 0.5)} <= settings
        assert {"most_popular", "mf_greedy"} <= {r["method"] for r in rows}
        for row in rows:
            assert set(row["ndcg"]) == {"mean", "ci_low", "ci_high"}
        # two x-metrics for each of the four trained points
        assert len(summary["comparisons"]) == 4 * 2
    assert (out / "tradeoff.png").stat().st_size > 0
    printed = capsys.readouterr().out
    assert "exclude_seen" in printed and "ndcg_gap_at_pop_rate" in printed


def test_sweep_rejects_unparsable_limits(tmp_path, capsys):
    assert main(["train", "sweep", "--limits", "1,x", "--out", str(tmp_path)]) == 2
    assert "limits" in capsys.readouterr().err


def test_evaluate_needs_an_agent_folder(tmp_path, capsys):
    assert main(["train", "evaluate", "--out", str(tmp_path)]) == 2
    assert "agent" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("mode", "gains"),
    [
        ("cpo", {"cost_margin_lr": 0.25}),
        ("ppo-lag", {"multiplier_lr": 0.75}),
        ("compare", {"cost_margin_lr": 0.25, "multiplier_lr": 0.75}),
        ("sweep", {"cost_margin_lr": 0.25, "multiplier_lr": 0.75}),
    ],
)
def test_each_mode_passes_the_gains_of_the_algorithms_it_trains(mode, gains):
    from jaxrec.agents.train_config import CPOConfig
    from jaxrec.cli import build_parser
    from jaxrec.commands._train_fcpo import algorithm_gains

    given = [f"--{name.replace('_', '-')}={value}" for name, value in gains.items()]
    args = build_parser().parse_args(["train", mode, *given, "--out", "x"])
    assert algorithm_gains(args) == gains
    config = CPOConfig(**algorithm_gains(args))
    assert all(getattr(config, name) == value for name, value in gains.items())
