"""``jaxrec train platform``: bad input is refused before anything trains, naming the option or
file, and nothing is written; a tiny run writes every promised file with the promised columns."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from jaxrec.cli import main


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        (["--targets", "0.5,6"], "targets"),
        (["--head-per-slate", "-1"], "--head-per-slate"),
        (["--data", "ml-100k"], "--data-dir"),
        (["--worlds", "0"], "--worlds"),
        (["--reset-every", "3"], "reset_every"),
        (["--top-items", "10"], "--top-items"),
        (["--multiplier-kp", "-0.5"], "--multiplier-kp"),
    ],
)
def test_bad_input_is_refused_before_training(tmp_path, capsys, extra, named):
    out = tmp_path / "run"
    code = main(["train", "platform", "--out", str(out), "--iterations", "4", *extra])
    assert code == 2
    err = capsys.readouterr().err
    assert "jaxrec train platform: error:" in err and named in err and "Traceback" not in err
    assert not out.exists()


def test_data_dir_without_files_and_too_many_users(tmp_path, capsys, ml100k_files):
    empty = tmp_path / "empty"
    empty.mkdir()
    out = tmp_path / "run"
    args = ["train", "platform", "--out", str(out), "--data", "ml-100k", "--data-dir", str(empty)]
    assert main(args) == 2
    assert "u.data" in capsys.readouterr().err
    data = ml100k_files(tmp_path / "ml", n_users=5, n_items=8, per_user=8)
    args = [*args[:-1], str(data), "--platform-users", "6"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "--platform-users" in err and "5 users" in err
    assert main([*args[:-2], "--top-items", "9"]) == 2
    err = capsys.readouterr().err
    assert "--top-items" in err and "[1, 8]" in err and "Traceback" not in err
    assert not out.exists()


def test_memory_estimate_uses_the_catalogue_of_the_data(tmp_path, monkeypatch, ml100k_files):
    """A world fitted from ratings holds the data's items (8 here), not the config's 500 slots;
    ``--top-items`` holds fewer."""
    from jaxrec.commands import _sizes

    data = ml100k_files(tmp_path / "ml", n_users=5, n_items=8, per_user=8)
    seen = []
    for name in ("training_bytes", "platform_bytes"):
        real = getattr(_sizes, name)
        monkeypatch.setattr(
            _sizes, name, lambda real=real, **kw: seen.append(kw["n_items"]) or real(**kw)
        )
    argv = ["train", "platform", "--data", "ml-100k", "--data-dir", str(data)]
    argv += ["--platform-users", "4", "--out", str(tmp_path / "run")]
    assert main(argv, validate_only=True) == 0
    assert main([*argv, "--top-items", "3"], validate_only=True) == 0
    assert seen == [8, 8, 3, 3]


@pytest.mark.slow
@pytest.mark.parametrize(("test_world", "worlds_served"), [("fresh", 1), ("continue", 2)])
def test_tiny_run_writes_every_file(tmp_path, test_world, worlds_served):
    out = tmp_path / "run"
    code = main(
        [
            "train", "platform", "--out", str(out), "--iterations", "2", "--reset-every", "1",
            "--seeds", "2", "--worlds", "2", "--platform-users", "8", "--platform-items", "40",
            "--platform-steps", "6", "--platform-train-steps", "3", "--targets", "0.5,1",
            "--no-progress", "--test-world", test_world,
        ]
    )  # fmt: skip
    assert code == 0
    frame = pd.read_parquet(out / "long_run.parquet")
    assert {"method", "seed", "world", "step", "head_per_slate", "clicks"} <= set(frame)
    assert {"exposure_gini", "active_producers"} <= set(frame)
    # the unconstrained agent, random and most-popular once, seven methods per target; 2 targets,
    # 2 seeds, the worlds served, 6 steps
    assert len(frame) == (3 + 7 * 2) * 2 * worlds_served * 6
    assert set(frame.world) == set(range(worlds_served))
    summary = json.loads((out / "summary.json").read_text())
    spread = summary["methods"]["cpo"].get("head_per_slate_tail_by_world")
    assert (spread is not None) == (worlds_served > 1)
    assert set(summary["methods"]) == {
        "cpo", "ppo_lag", "cpo_online", "ppo_lag_online", "fairco", "frozen_rerank",
        "quota_rerank", "unconstrained", "random", "most_popular",
    }  # fmt: skip
    assert set(summary["by_target"]["0.5"]["differences"]) == {
        "cpo-fairco", "ppo_lag-fairco", "cpo_online-fairco", "ppo_lag_online-fairco",
    }  # fmt: skip
    # an online agent reports the training of the agent it deploys
    online = summary["methods"]["cpo_online"]["train_head_per_slate"]
    assert online == summary["methods"]["cpo"]["train_head_per_slate"]
    assert summary["methods"]["cpo"]["target"] == 1.0
    assert "train_head_per_slate" in summary["methods"]["ppo_lag"]
    training = pd.read_parquet(out / "training.parquet")
    # CPO at 2 targets and without a limit, PPO-Lagrangian at 2 targets; 2 seeds, 2 iterations
    assert len(training) == 5 * 2 * 2
    assert set(training.method) == {"cpo", "ppo_lag", "unconstrained"}
    assert training.head_per_slate.to_numpy() == pytest.approx(training.episode_cost / 3)
    last = training[
        (training.method == "cpo") & (training.target == 1.0) & (training.iteration == 1)
    ]
    assert summary["methods"]["cpo"]["train_head_per_slate"]["mean"] == pytest.approx(
        last.head_per_slate.mean()
    )
    for name in ("long_run.png", "training.png", "tradeoff.png"):
        assert (out / name).stat().st_size > 0


def test_summary_tails_and_training_cost_against_hand_computed_means():
    from jaxrec.experiments.platform_long_run import METHODS, UNTARGETED, summarise
    from jaxrec.experiments.platform_long_run_setup import LongRunExperiment

    e = LongRunExperiment(seeds=2, test_steps=4, targets=(1.0,), target=1.0, iterations=10)
    rows = []
    for method in METHODS:
        for seed in range(2):
            for step in range(4):
                rows.append(
                    {
                        "method": method,
                        "target": float("nan") if method in UNTARGETED else 1.0,
                        "seed": seed,
                        "step": step,
                        # tail (steps 2, 3): 2.5 and 3.5; FairCo's one less
                        "head_per_slate": step + seed - (method == "fairco"),
                        "clicks": 1.0,
                        "exposure_gini": 0.5,
                        "active_producers": 8.0,
                    }
                )
    # the training cost is the mean over the last fifth of the iterations (8 and 9 of 10): per
    # seed 1.0 and 1.1, whatever came before
    training = pd.DataFrame(
        {
            "method": "cpo",
            "target": 1.0,
            "seed": [0] * 10 + [1] * 10,
            "iteration": list(range(10)) * 2,
            "head_per_slate": [9.0] * 8 + [0.9, 1.1] + [9.0] * 8 + [1.1, 1.1],
        }
    )
    summary = summarise(pd.DataFrame(rows), training, e)
    # the same means served on two worlds per seed, 0.5 above and below: the summary averages
    # the worlds first, and reports each (seed, world) tail's range
    by_world = pd.DataFrame(
        [row | {"world": w, "head_per_slate": row["head_per_slate"] + 0.5 - w} for row in rows
         for w in (0, 1)]
    )  # fmt: skip
    two_worlds = summarise(by_world, training, e)
    spread = two_worlds["methods"]["cpo"]["head_per_slate_tail_by_world"]
    assert spread == {"min": 2.0, "median": pytest.approx(3.0), "max": 4.0}
    entries = [*two_worlds["methods"].values(), *two_worlds["by_target"]["1.0"]["methods"].values()]
    for entry in entries:
        del entry["head_per_slate_tail_by_world"]
    assert two_worlds == summary
    assert "head_per_slate_tail_by_world" not in summary["methods"]["cpo"]  # one world served
    cpo = summary["methods"]["cpo"]
    assert cpo["head_per_slate_tail"]["mean"] == pytest.approx(3.0)
    # t interval over two seed means 2.5, 3.5: t(0.975, 1) * 0.7071 / sqrt(2) = 12.7062 * 0.5
    assert cpo["head_per_slate_tail"]["ci95"] == pytest.approx(6.3531, rel=1e-4)
    assert cpo["tail_off_target"] == pytest.approx(2.0)
    # blocks of 25 steps hold a whole 2-step tail: a draw resamples the seeds alone, its mean
    # 2.5, 3 or 3.5 with chances 1/4, 1/2, 1/4, so the 95% interval spans 2.5 to 3.5
    tail = cpo["head_per_slate_tail"]
    assert (tail["ci_low"], tail["ci_high"]) == pytest.approx((2.5, 3.5))
    assert cpo["on_target"] == "outside"  # the interval lies above 1.05
    # paired draws: CPO minus FairCo is 1 at every step and seed, so in every draw
    difference = summary["differences"]["cpo-fairco"]["head_per_slate_tail"]
    assert difference == {"mean": pytest.approx(1.0), "ci_low": pytest.approx(1.0),
                          "ci_high": pytest.approx(1.0), "significant": True}  # fmt: skip
    clicks = summary["differences"]["cpo-fairco"]["clicks_tail"]
    assert clicks == {"mean": 0.0, "ci_low": 0.0, "ci_high": 0.0, "significant": False}
    assert cpo["train_cost_over_limit"] == pytest.approx(0.05)
    assert "train_head_per_slate" not in summary["methods"]["fairco"]
    # the online agent deploys the trained CPO agent: its training is CPO's
    assert summary["methods"]["cpo_online"]["train_cost_over_limit"] == pytest.approx(0.05)


def test_training_plot_shows_ppo_lagrangians_multiplier_per_iteration():
    """The third panel is PPO-Lagrangian's multiplier: the seeds' mean per iteration (the line)
    and their range (the band); the constrained methods' cost panel keeps the target line."""
    import numpy as np

    from jaxrec.experiments.platform_long_run import plot_training
    from jaxrec.experiments.platform_long_run_setup import LongRunExperiment

    e = LongRunExperiment(seeds=2, iterations=3, reset_every=0)
    rows = [
        {
            "method": method,
            "target": float("nan") if method == "unconstrained" else 1.0,
            "seed": seed,
            "iteration": iteration,
            "head_per_slate": 2.0,  # off the target, so the target line is told apart
            "episode_return": 2.0,
            # PPO-Lagrangian's: seed 0 winds up to 4, seed 1 to 8; CPO leaves it at 0
            "multiplier": (iteration * (2 + 2 * seed) if method == "ppo_lag" else 0.0),
        }
        for method in ("cpo", "ppo_lag", "unconstrained")
        for seed in range(2)
        for iteration in range(3)
    ]
    fig = plot_training(pd.DataFrame(rows), e)
    cost, _, multiplier = fig.axes
    (line,) = multiplier.get_lines()
    np.testing.assert_allclose(line.get_xdata(), [0, 1, 2])
    np.testing.assert_allclose(line.get_ydata(), [0.0, 3.0, 6.0])
    band = multiplier.collections[0].get_paths()[0].vertices
    assert band[:, 1].min() == 0.0 and band[:, 1].max() == 8.0
    assert line.get_label() == "ppo_lag"
    (target,) = [other for other in cost.get_lines() if other.get_label() == "target 1"]
    np.testing.assert_allclose(target.get_ydata(), 1.0)
