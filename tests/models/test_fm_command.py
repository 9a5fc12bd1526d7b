"""`jaxrec fm` and `jaxrec bench fm` end to end on tiny sizes."""

from __future__ import annotations

import argparse
import json

import pytest

from jaxrec.cli import main


def test_fm_command_writes_results_and_plots(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["fm", "--model", "aafm", "--samples", "3000", "--epochs", "2", "--seeds", "2",
                 "--dim", "8", "--batch-size", "128", "--robustness", "--out", str(out)])  # fmt: skip
    assert code == 0
    results = json.loads((out / "results.json").read_text())
    row = results["models"]["aafm"]
    assert set(row) >= {"auc", "log_loss", "efgd", "std", "bucket_auc", "best_epoch"}
    assert len(row["bucket_auc"]["mean"]) == 6 and len(row["best_epoch"]) == 2
    assert set(results["robustness"]["aafm"]) == {"0.5", "1.0", "2.0"}
    assert (out / "bucket_auc.png").stat().st_size > 0
    assert (out / "rarest_bucket_val_auc.png").stat().st_size > 0
    assert "B1" in capsys.readouterr().out


def test_fm_command_names_the_missing_data_dir(tmp_path, capsys):
    assert main(["fm", "--data", "ml-100k", "--out", str(tmp_path)]) == 2
    assert "data_dir" in capsys.readouterr().err


def test_bench_fm_record_has_the_sizes_and_timings():
    from jaxrec.bench import fm

    parser = argparse.ArgumentParser()
    fm.add_arguments(parser)
    args = parser.parse_args(["--samples", "2048", "--dim", "8", "--seeds", "1", "2",
                              "--repeats", "1"])  # fmt: skip
    record = fm.run(args)
    assert record["samples_per_epoch"] == 2048 and record["batch_size"] == 512
    assert record["seconds_per_adversarial_epoch"] > 0
    assert [row["seeds"] for row in record["by_seeds"]] == [1, 2]
    json.dumps(record)


@pytest.mark.parametrize("flag", ["--seeds", "--epochs"])
def test_fm_command_rejects_non_positive_counts(tmp_path, flag, capsys):
    assert main(["fm", flag, "0", "--out", str(tmp_path)]) == 2
    assert flag.lstrip("-") in capsys.readouterr().err


def write_ml100k_like(directory, n_users=30, n_items=40, seed=0):
    """Random ratings in the official ML-100K file formats (u.user, u.item, u.data)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    users = [f"{u + 1}|{rng.integers(10, 70)}|{'MF'[u % 2]}|{['writer', 'other', 'student'][u % 3]}|"
             f"{rng.integers(10000, 99999)}" for u in range(n_users)]  # fmt: skip
    items = []
    for i in range(n_items):
        flags = ["0"] * 19
        flags[int(rng.integers(0, 19))] = "1"
        items.append(
            f"{i + 1}|Movie {i} ({1950 + i})|01-Jan-{1950 + i}||http://x|" + "|".join(flags)
        )
    rows = [f"{u + 1}\t{i + 1}\t{rng.integers(1, 6)}\t{rng.integers(8 * 10**8, 9 * 10**8)}"
            for u in range(n_users) for i in rng.choice(n_items, 15, replace=False)]  # fmt: skip
    for name, lines in (("u.user", users), ("u.item", items), ("u.data", rows)):
        (directory / name).write_text("\n".join(lines) + "\n", encoding="latin-1")
    return directory


def test_fm_command_on_ml100k_format_files(tmp_path):
    data_dir = write_ml100k_like(tmp_path / "ml-100k")
    out = tmp_path / "run"
    code = main(["fm", "--model", "fm", "--data", "ml-100k", "--data-dir", str(data_dir),
                 "--setting", "user", "--protocol", "paper", "--epochs", "2", "--seeds", "1",
                 "--dim", "8", "--batch-size", "32", "--out", str(out)])  # fmt: skip
    assert code == 0
    results = json.loads((out / "results.json").read_text())
    assert results["data"] == "ml-100k-user"
    assert results["sizes"]["fields"] == [
        "user",
        "item",
        "gender",
        "age",
        "occupation",
        "zip_prefix",
    ]
    assert results["sizes"]["test"] == 2 * 30  # one positive + one negative per user


def test_fm_command_refuses_models_too_large_for_memory_once_the_data_is_read(
    tmp_path, capsys, monkeypatch
):
    from jaxrec.commands import _sizes

    monkeypatch.setattr(_sizes, "available_bytes", lambda: (2**30, "test memory"))
    data_dir = write_ml100k_like(tmp_path / "ml-100k")
    argv = ["fm", "--data", "ml-100k", "--data-dir", str(data_dir), "--dim", "200000",
            "--out", str(tmp_path / "run")]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "needs about" in err and "test memory is 1 GiB" in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()


def write_latest_like(directory, n_users=30, n_items=40, seed=0):
    """Random half-star ratings in the official "latest" format (quoted titles, sparse ids)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    genres = ["Action", "Comedy", "Drama", "Sci-Fi", "(no genres listed)"]
    movies = ["movieId,title,genres"] + [
        f'{3 * i + 1},"Movie {i}, The ({1950 + i})",{genres[i % len(genres)]}'
        for i in range(n_items)
    ]
    ratings = ["userId,movieId,rating,timestamp"] + [
        f"{u + 1},{3 * i + 1},{rng.integers(1, 11) / 2:.1f},{rng.integers(8 * 10**8, 9 * 10**8)}"
        for u in range(n_users) for i in rng.choice(n_items, 15, replace=False)
    ]  # fmt: skip
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "ratings.csv").write_text("\n".join(ratings) + "\n", encoding="utf-8")
    (directory / "movies.csv").write_text("\n".join(movies) + "\n", encoding="utf-8")
    return directory


def test_fm_command_on_ml_latest_files_tunes_and_reports_intervals(tmp_path, capsys):
    data_dir = write_latest_like(tmp_path / "ml-latest")
    out = tmp_path / "run"
    code = main(["fm", "--model", "fm", "--data", "ml-latest", "--data-dir", str(data_dir),
                 "--tune", "2", "--epochs", "1", "--seeds", "2", "--bootstrap", "50",
                 "--batch-size", "32", "--out", str(out)])  # fmt: skip
    assert code == 0
    results = json.loads((out / "results.json").read_text())
    assert results["protocol"] == "holdout" and results["shared_pool"]
    assert set(results["models"]) == {"fm", "popularity", "random"}
    for row in results["models"].values():
        for figure in ("auc", "log_loss", "std", "efgd"):
            cell = row[figure]
            assert cell["ci_low"] <= cell["ci_high"] and 0 <= cell["mean"] <= 1.5
        assert len(row["bucket_auc"]["ci_high"]) == 6
    fm = results["models"]["fm"]
    assert len(fm["trials"]) == 2 and set(fm["chosen"]) == {"dim", "learning_rate", "l2"}
    assert "significant" in results["differences"]["fm-popularity"]["auc"]
    printed = capsys.readouterr().out
    assert "popularity" in printed and "chosen on validation AUC" in printed
    assert main(["fm", "--data", "ml-latest", "--data-dir", str(data_dir), "--setting", "user",
                 "--out", str(tmp_path / "user")]) == 2  # fmt: skip
    assert "--setting item" in capsys.readouterr().err
