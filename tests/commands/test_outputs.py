"""``--out`` resolution: refusals before any work, and result files with the umask's permissions."""

from __future__ import annotations

import os
import stat

import pandas as pd
import pytest

from jaxrec.commands._outputs import MARKER, check_out, claim_out, finish_out, read_marker
from jaxrec.errors import ConfigError
from jaxrec.io import write_json, write_parquet


def test_a_new_or_empty_folder_is_accepted_and_nothing_is_written(tmp_path):
    assert check_out(tmp_path / "a" / "b", "simulate") == tmp_path / "a" / "b"
    (tmp_path / "empty").mkdir()
    check_out(tmp_path / "empty", "simulate")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty"]  # check_out creates nothing


def test_an_existing_file_is_refused(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(ConfigError, match=r"--out: .*f is an existing file"):
        check_out(tmp_path / "f", "demo")


def test_a_folder_below_a_file_is_refused_as_unwritable(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(ConfigError, match=r"--out: cannot write to .* is a file"):
        check_out(tmp_path / "f" / "sub", "demo")


def test_a_read_only_file_system_is_refused(tmp_path, monkeypatch):
    real = os.statvfs

    class ReadOnly:
        def __init__(self, result):
            self.f_flag = result.f_flag | os.ST_RDONLY

    monkeypatch.setattr(os, "statvfs", lambda path: ReadOnly(real(path)))
    with pytest.raises(ConfigError, match="read-only file system"):
        check_out(tmp_path / "new", "fm")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to any folder")
def test_a_folder_without_write_permission_is_refused(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    with pytest.raises(ConfigError, match="not writable"):
        check_out(locked / "out", "fm")


def test_a_foreign_non_empty_folder_is_refused_even_with_overwrite(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    for overwrite in (False, True):
        with pytest.raises(ConfigError, match=r"not empty .*notes.txt.* not a previous"):
            check_out(tmp_path, "simulate", overwrite=overwrite)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_a_previous_run_needs_overwrite_and_overwrite_replaces_it(tmp_path):
    out = claim_out(tmp_path / "run", "simulate", policy="greedy")
    (out / "old.parquet").write_text("stale")
    finish_out(out)
    assert read_marker(out) == {"command": "simulate", "complete": True, "policy": "greedy"}
    with pytest.raises(ConfigError, match="previous `jaxrec simulate` run; pass --overwrite"):
        check_out(out, "simulate")
    with pytest.raises(ConfigError, match="holds a `jaxrec simulate` run, not `jaxrec demo`"):
        check_out(out, "demo", overwrite=True)
    claim_out(out, "simulate", overwrite=True)
    assert sorted(p.name for p in out.iterdir()) == [MARKER]
    assert read_marker(out)["complete"] is False


def test_resumable_commands_offer_resume(tmp_path):
    claim_out(tmp_path, "sweep")
    with pytest.raises(ConfigError, match="--resume to continue it or --overwrite"):
        check_out(tmp_path, "sweep", resume=False)
    check_out(tmp_path, "sweep", resume=True)
    with pytest.raises(ConfigError, match="--overwrite: give --resume or --overwrite"):
        check_out(tmp_path, "sweep", resume=True, overwrite=True)


def test_a_sweep_folder_from_before_the_marker_is_recognised(tmp_path):
    (tmp_path / "sweep.json").write_text("{}")
    with pytest.raises(ConfigError, match="previous `jaxrec sweep` run"):
        check_out(tmp_path, "sweep", resume=False)


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o077])
def test_result_files_get_the_permissions_the_umask_gives(tmp_path, umask):
    previous = os.umask(umask)
    try:
        with open(tmp_path / "reference", "w"):  # what open() gives a new file under this umask
            pass
        expected = stat.S_IMODE((tmp_path / "reference").stat().st_mode)
        written = [
            write_json(tmp_path / "a.json", {"x": 1}),
            write_parquet(tmp_path / "b.parquet", pd.DataFrame({"x": [1]})),
        ]
    finally:
        os.umask(previous)
    assert expected == 0o666 & ~umask
    for path in written:
        assert stat.S_IMODE(path.stat().st_mode) == expected
