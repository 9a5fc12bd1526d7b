"""The jaxrec command: demo, simulate and bench env on tiny sizes; config errors name the field."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from jaxrec.cli import main

TINY = """
[world]
n_users = 24
n_items = 60
n_producers = 5
dim = 8
[env]
slate_size = 4
popularity_beta = 1.0
[policy]
name = "static_rerank"
head_ratio = 0.5
[run]
steps = 12
worlds = 2
chunk = 5
"""


def test_simulate_writes_tidy_metrics(tmp_path, capsys):
    config = tmp_path / "tiny.toml"
    config.write_text(TINY)
    out = tmp_path / "out"
    assert main(["simulate", str(config), "--out", str(out), "--no-progress"]) == 0
    frame = pd.read_parquet(out / "metrics.parquet")
    required = {"world", "step", "reward", "cost", "exposure_gini", "head_share"}
    assert required | {"active_users", "active_producers"} <= set(frame.columns)
    assert len(frame) == 2 * 12
    assert sorted(frame["step"].unique()) == list(range(1, 13))
    # the static re-ranker with ratio 0.5 puts exactly 2 head items in each slate of 4
    assert frame["cost"].between(0, 2).all() and frame["cost"].mean() > 1.5
    assert (out / "exposure_gini.png").stat().st_size > 1000
    summary = json.loads((out / "summary.json").read_text())
    assert summary["policy"] == "static_rerank"
    assert "head items/slate" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("[env]\npopularity_betta = 1.0\n", "env.popularity_betta"),
        ("[env]\npopularity_decay = 2.0\n", "env.popularity_decay"),
        ("[world]\nn_items = 0\n", "world.n_items"),
        ("[policy]\nname = 'oracle'\n", "policy.name"),
        ("[run]\nsteps = -3\n", "run.steps"),
        ("[runs]\nsteps = 3\n", "runs"),
        ("[env\n", "bad.toml"),
    ],
)
def test_simulate_config_errors_name_the_field(tmp_path, capsys, text, field):
    config = tmp_path / "bad.toml"
    config.write_text(text)
    assert main(["simulate", str(config), "--out", str(tmp_path / "o"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert field in err
    assert "Traceback" not in err
    assert not (tmp_path / "o" / "metrics.parquet").exists()


def test_simulate_on_a_world_fitted_from_movielens_files(tmp_path, ml100k_files):
    data_dir = ml100k_files(tmp_path / "ml-100k")
    config = tmp_path / "ml.toml"
    config.write_text(
        "[world]\nn_producers = 5\ndim = 4\n[env]\nslate_size = 4\n[run]\nsteps = 6\nworlds = 1\n"
    )
    out = tmp_path / "out"
    args = ["simulate", str(config), "--data", "ml-100k", "--data-dir", str(data_dir)]
    assert main([*args, "--policy", "greedy", "--out", str(out), "--no-progress"]) == 0
    frame = pd.read_parquet(out / "metrics.parquet")
    assert len(frame) == 6
    assert frame["active_users"].iloc[0] == 30  # every user of the file is simulated


def test_movielens_without_data_dir_is_a_clear_error(tmp_path, capsys):
    assert main(["simulate", "--data", "ml-100k", "--out", str(tmp_path)]) == 2
    assert "--data-dir" in capsys.readouterr().err


def test_demo_runs_and_writes_plots(tmp_path, capsys):
    out = tmp_path / "demo"
    args = ["demo", "--out", str(out), "--worlds", "2", "--users", "16", "--items", "40"]
    assert main([*args, "--steps", "30", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "Matthew effect" in printed and "frozen_rerank serves" in printed
    for name in (
        "metrics.parquet",
        "summary.json",
        "exposure_gini.png",
        "head_per_slate.png",
        "lorenz.png",
    ):
        assert (out / name).exists(), name
    frame = pd.read_parquet(out / "metrics.parquet")
    assert set(frame["policy"]) == {"random", "most_popular", "frozen_rerank", "fairco"}


def test_bench_env_writes_json(tmp_path):
    path = tmp_path / "env.json"
    args = ["bench", "env", "--users", "32", "--items", "64", "--steps", "3", "--repeats", "1"]
    assert main([*args, "--reference-steps", "1", "--json", str(path)]) == 0
    record = json.loads(path.read_text())
    for key in ("user_steps_per_s", "compile_s", "device", "users", "items", "slate"):
        assert key in record
    assert record["user_steps_per_s"] > 0 and record["speedup_vs_reference"] > 0
    # Both selection paths, the default first, beside the yardstick; exact paths, same rollout.
    from jaxrec.ops.selection import cpu_selection_path

    paths = [row["path"] for row in record["paths"]]
    assert paths == list(dict.fromkeys([cpu_selection_path(), "lax.top_k", "numpy reference"]))
    assert record["selection_path"] == cpu_selection_path() and record["paths_agree"] is True
    for row in record["paths"][:-1]:
        assert row["user_steps_per_s"] >= row["median_user_steps_per_s"] > 0


def test_closed_loop_prints_a_valid_example_policy(tmp_path, capsys):
    from jaxrec.agents.marketplace import load_policy

    assert main(["closed-loop", "--print-example-policy"]) == 0
    path = tmp_path / "policy.toml"
    path.write_text(capsys.readouterr().out)
    policy = load_policy(path)  # the printed file round-trips through the validating loader
    assert policy.version == 1
    assert main(["closed-loop", "--policy", str(path)]) == 2  # no --out
    assert "--out" in capsys.readouterr().err
