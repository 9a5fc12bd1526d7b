"""jaxrec.bench timing helpers: interleaved rounds and best-of timing."""

from __future__ import annotations

import time

import jax.numpy as jnp

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
