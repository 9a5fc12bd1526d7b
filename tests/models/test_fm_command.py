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
