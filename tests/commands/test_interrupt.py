"""Ctrl-C: the first SIGINT asks for a stop at the chunk boundary; what finished is kept."""

from __future__ import annotations

import contextlib
import json
import os
import signal

import pandas as pd
import pytest

from jaxrec.cli import main
from jaxrec.commands import _interrupt

TINY = """
[world]
n_users = 16
n_items = 40
n_producers = 4
dim = 4
[env]
slate_size = 3
[run]
steps = 12
worlds = 2
chunk = 5
"""


def test_first_sigint_requests_a_stop_and_the_second_aborts():
    previous = signal.getsignal(signal.SIGINT)
    with _interrupt.stop_requests() as should_stop:
        assert not should_stop()
        os.kill(os.getpid(), signal.SIGINT)
        assert should_stop()
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is previous


def test_ctrl_c_in_simulate_keeps_the_finished_chunks_and_report_says_so(
    tmp_path, capsys, monkeypatch
):
    # a Ctrl-C pressed during the first chunk: the run is asked to stop at its first boundary
    monkeypatch.setattr(_interrupt, "stop_requests", lambda: contextlib.nullcontext(lambda: True))
    config, out = tmp_path / "c.toml", tmp_path / "out"
    config.write_text(TINY)
    assert main(["simulate", str(config), "--out", str(out), "--no-progress"]) == 130
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Traceback" not in err
    assert "interrupted: policy greedy stopped at step 5 of 12" in err and "--overwrite" in err
    kept = pd.read_parquet(out / "metrics.parquet")
    assert sorted(kept["step"].unique()) == [1, 2, 3, 4, 5]
    assert len(kept) == 2 * 5
    assert json.loads((out / "jaxrec-run.json").read_text())["complete"] is False
    assert main(["report", str(out), "--metrics", "reward"]) == 0
    assert "INCOMPLETE `jaxrec simulate` run: it reached step 5 of 12" in capsys.readouterr().out
    # the folder is a previous simulate run now: running again needs --overwrite
    assert main(["simulate", str(config), "--out", str(out)], validate_only=True) == 2
    assert "--overwrite" in capsys.readouterr().err
