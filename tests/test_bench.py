"""jaxrec.bench: interleaved best-of timing, the public CPO configuration, record printing."""

from __future__ import annotations

import argparse
import time

import jax.numpy as jnp
import pytest

from jaxrec.bench import time_interleaved


def test_time_interleaved_runs_every_call_each_round_and_keeps_the_best() -> None:
    order: list[str] = []
    delays = {"slow": iter([0.03, 0.03, 0.01, 0.01, 0.03, 0.03]), "fast": iter([0.0] * 6)}

    def call(name: str):
        def run():
            order.append(name)
            time.sleep(next(delays[name]))
            return jnp.zeros(())

        return run

    best = time_interleaved({"slow": call("slow"), "fast": call("fast")}, repeats=3)
    # each round runs one call (a warm call plus a timed one) before the next: slow, fast, slow, ...
    assert order == ["slow", "slow", "fast", "fast"] * 3
    assert set(best) == {"slow", "fast"}
    assert 0.01 <= best["slow"] < 0.025  # the round that slept 0.01 s, not the 0.03 s ones
    assert 0.0 <= best["fast"] < best["slow"]


def test_cpo_bench_public_configuration_does_the_public_codes_work() -> None:
    from jaxrec.bench import cpo

    parser = argparse.ArgumentParser()
    cpo.add_arguments(parser)
    configs = cpo.configurations(parser.parse_args(["--users", "50", "--horizon", "4"]))
    public, default = configs["public FCPO"], configs["jaxrec"]
    assert public.hidden == (256, 64) and public.fisher_stride == 1
    assert public.critic_batch == 50 * 4  # every state of the iteration in each critic step
    assert (default.hidden, default.fisher_stride) != (public.hidden, public.fisher_stride)
    assert public.cg_iterations == default.cg_iterations and public.delta == default.delta


def test_bench_prints_row_lists_as_aligned_tables(capsys) -> None:
    from jaxrec.commands.bench import _print_record

    _print_record({"benchmark": "x", "paths": [{"path": "a", "rate": 123456.7}, {"path": "bb"}]})
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["benchmark", "x"]
    header, first, second = lines[2:5]
    assert header.split() == ["path", "rate"] and first.split() == ["a", "123,457"]
    assert second.split() == ["bb"] and len(header) == len(first) == len(second)


@pytest.mark.slow  # ~45 s: compiles the platform trainer at two world counts
def test_bench_platform_record_at_tiny_sizes(tmp_path) -> None:
    """`jaxrec bench platform_train` times training and the plain rollout of the same worlds in one run
    and reports the trajectory memory the GPU-sized batch would need."""
    import json

    from jaxrec.cli import main

    path = tmp_path / "platform.json"
    args = [
        "bench",
        "platform_train",
        "--worlds",
        "2",
        "--users",
        "8",
        "--items",
        "40",
        "--steps",
        "3",
    ]
    assert main([*args, "--iterations", "1", "--repeats", "1", "--json", str(path)]) == 0
    record = json.loads(path.read_text())
    assert record["train_user_steps_per_s"] > 0 and record["rollout_user_steps_per_s"] > 0
    ratio = record["rollout_user_steps_per_s"] / record["train_user_steps_per_s"]
    assert abs(record["train_over_rollout"] - ratio) < 1e-9 * ratio
    assert record["gpu_user_episodes"] == 65536
    # T U (H d + d + 1 + 6) float32: 3 * 65536 * (5 * 8 + 15) * 4 bytes
    assert record["gpu_trajectory_mb"] == 3 * 65536 * 55 * 4 / 2**20


@pytest.mark.slow  # ~2 min: compiles the plain platform and two closed loops
def test_closed_loop_bench_times_the_three_variants_side_by_side() -> None:
    from jaxrec.bench import closed_loop

    parser = argparse.ArgumentParser()
    closed_loop.add_arguments(parser)
    argv = "--users 16 --items 80 --steps 8 --retrain-every 4 --updates 2 --batch-size 16 --dim 4"
    record = closed_loop.run(parser.parse_args([*argv.split(), "--repeats", "1"]))
    for label in ("plain", "closed_loop", "closed_loop_rerank"):
        assert record[f"{label}_user_steps_per_s"] > 0 and record[f"{label}_compile_s"] > 0
    plain = record["plain_user_steps_per_s"]
    assert record["closed_loop_vs_plain"] == pytest.approx(
        record["closed_loop_user_steps_per_s"] / plain
    )
