"""Sweeps across processes: kill -9 then resume, 8 host devices, two processes under jax.distributed."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from jaxrec.cli import main
from jaxrec.sweep.engine import SweepProgram
from jaxrec.sweep.runner import load_metrics, run_sweep
from jaxrec.sweep.spec import parse_sweep

TINY = """\
name = "tiny"
[world]
seed = 3
n_users = 16
n_items = 32
n_producers = 4
dim = 4
[env]
slate_size = 2
[policy]
name = "quota_rerank"
[run]
steps = {steps}
chunk = 10
seeds = [0, 5]
log_every = 10
checkpoint_every = {checkpoint_every}
[grid]
"env.popularity_beta" = [0.0, 0.8, 1.5]
"policy.head_ratio" = [0.5]
"""

REPO = Path(__file__).resolve().parents[2]


def _env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "JAX_PLATFORMS": "cpu", **extra}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    return env


def test_print_example_is_a_valid_sweep_file(capsys):
    assert main(["sweep", "--print-example"]) == 0
    assert parse_sweep(capsys.readouterr().out).n_runs == 36


def test_kill_9_then_resume_equals_an_uninterrupted_run(tmp_path):
    text = TINY.format(steps=1000, checkpoint_every=5)
    sweep_file = tmp_path / "sweep.toml"
    sweep_file.write_text(text)
    killed = tmp_path / "killed"
    cmd = [sys.executable, "-m", "jaxrec.cli", "sweep", str(sweep_file), "--out", str(killed)]
    proc = subprocess.Popen([*cmd, "--no-progress"], env=_env(), cwd=tmp_path)
    deadline = time.monotonic() + 120
    checkpoints = killed / "checkpoints"
    while time.monotonic() < deadline and proc.poll() is None:
        if checkpoints.is_dir() and any(p.name.isdigit() for p in checkpoints.iterdir()):
            break
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL, "the run finished before it could be killed"
    steps_before = load_metrics(killed)["step"].max()
    assert steps_before < 1000

    spec = parse_sweep(text)
    program = SweepProgram(spec)
    run_sweep(spec, killed, resume=True, progress=False, program=program)
    full = tmp_path / "full"
    run_sweep(spec, full, progress=False, program=program)
    pd.testing.assert_frame_equal(load_metrics(killed), load_metrics(full), check_exact=True)


SHARDED = """
import sys, jax
from jaxrec.sweep.runner import run_sweep
from jaxrec.sweep.spec import parse_sweep
spec = parse_sweep(open(sys.argv[1]).read())
assert jax.device_count() == 8, jax.devices()
run_sweep(spec, sys.argv[2], progress=False)
run_sweep(spec, sys.argv[3], progress=False, devices=jax.devices()[:4])
"""


def test_sharding_over_8_host_devices_matches_one_device(tmp_path):
    """6 runs on 8 devices (padded) and on 4 devices (padded to 8) equal the 1-device run."""
    text = TINY.format(steps=20, checkpoint_every=0)
    sweep_file = tmp_path / "sweep.toml"
    sweep_file.write_text(text)
    env = _env(XLA_FLAGS="--xla_force_host_platform_device_count=8")
    args = [str(sweep_file), str(tmp_path / "d8"), str(tmp_path / "d4")]
    subprocess.run([sys.executable, "-c", SHARDED, *args], env=env, check=True, timeout=120)
    one = tmp_path / "d1"
    run_sweep(parse_sweep(text), one, progress=False)
    reference = load_metrics(one)
    assert len(reference) == 6 * 2
    for folder in ("d8", "d4"):
        pd.testing.assert_frame_equal(load_metrics(tmp_path / folder), reference, check_exact=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _two_processes(sweep_file: Path, out: Path, *extra: str) -> list[subprocess.Popen]:
    """Two local processes of one JAX cluster running ``jaxrec sweep`` on ``sweep_file``."""
    port = _free_port()
    command = [sys.executable, "-m", "jaxrec.sweep", str(sweep_file), "--out", str(out)]
    return [
        subprocess.Popen(
            [*command, "--no-progress", "--distributed", *extra],
            env=_env(
                JAX_COORDINATOR_ADDRESS=f"127.0.0.1:{port}",
                JAX_NUM_PROCESSES="2",
                JAX_PROCESS_ID=str(i),
            ),
            cwd=sweep_file.parent,
        )
        for i in range(2)
    ]


def _wait(procs: list[subprocess.Popen], timeout: float) -> list[int]:
    try:
        return [proc.wait(timeout=timeout) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()


@pytest.mark.slow  # two JAX processes, gloo and a multi-process orbax checkpoint: ~45 s here
def test_two_processes_under_jax_distributed_complete_a_sweep(tmp_path):
    """Two local processes form one JAX cluster; each writes the rows of its own runs."""
    text = TINY.format(steps=20, checkpoint_every=2)
    sweep_file = tmp_path / "sweep.toml"
    sweep_file.write_text(text)
    out = tmp_path / "multi"
    assert _wait(_two_processes(sweep_file, out), 150) == [0, 0]
    parts = sorted(p.name for p in (out / "metrics.parquet").iterdir())
    assert {name.rsplit("-", 1)[1] for name in parts} == {"p000.parquet", "p001.parquet"}
    one = tmp_path / "one"
    run_sweep(parse_sweep(text), one, progress=False)
    pd.testing.assert_frame_equal(load_metrics(out), load_metrics(one), check_exact=True)


@pytest.mark.slow  # two JAX processes interrupted, then resumed: ~2 min here
def test_ctrl_c_in_one_process_stops_every_process_at_the_same_chunk(tmp_path):
    """SIGINT reaches process 0 only; both stop at one chunk boundary (exit 130) with a checkpoint,
    and resuming both gives the uninterrupted run's rows."""
    text = TINY.format(steps=1000, checkpoint_every=5)
    sweep_file = tmp_path / "sweep.toml"
    sweep_file.write_text(text)
    out = tmp_path / "multi"
    procs = _two_processes(sweep_file, out)
    deadline = time.monotonic() + 150
    while time.monotonic() < deadline and procs[0].poll() is None:
        if any((out / "metrics.parquet").glob("part-*-p000.parquet")):
            break
        time.sleep(0.05)
    procs[0].send_signal(signal.SIGINT)
    assert _wait(procs, 150) == [130, 130]
    assert load_metrics(out)["step"].max() < 1000
    assert _wait(_two_processes(sweep_file, out, "--resume"), 300) == [0, 0]
    one = tmp_path / "one"
    run_sweep(parse_sweep(text), one, progress=False)
    pd.testing.assert_frame_equal(load_metrics(out), load_metrics(one), check_exact=True)
