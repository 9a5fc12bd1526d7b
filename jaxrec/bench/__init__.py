"""Throughput benchmarks behind ``jaxrec bench``.

Each benchmark is a module of this package exposing ``add_arguments(parser)`` and
``run(args) -> dict`` (a JSON-ready record), and a one-line module docstring used as its help.
:func:`benchmark_modules` discovers them, so adding a benchmark is adding a file; ``jaxrec bench``
with no name runs them all with their default sizes.
"""

from __future__ import annotations

import pkgutil
import platform
import time
from collections.abc import Callable
from typing import Any

import jax


def benchmark_modules() -> dict[str, str]:
    """Map each benchmark's name to its module path, in alphabetical order."""
    return {
        info.name: f"{__name__}.{info.name}"
        for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name)
        if not info.name.startswith("_")
    }


def device_info() -> dict[str, Any]:
    """Describe where the benchmark ran: backend, device kind and count, versions, host."""
    device = jax.devices()[0]
    return {
        "device": f"{device.platform}:{getattr(device, 'device_kind', device.platform)}",
        "device_count": jax.device_count(),
        "jax_version": jax.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
    }


def block(tree: Any) -> Any:
    """Wait for every array in ``tree`` to be computed."""
    return jax.block_until_ready(tree)


def time_compiled(fn: Callable[[], Any], repeats: int = 3) -> tuple[float, float]:
    """Time a zero-argument jitted call.

    Returns ``(first_call_s, best_steady_s)``: the first call includes tracing and compilation;
    the steady time is the best of ``repeats`` further calls (least disturbed by a noisy machine).
    """
    start = time.perf_counter()
    block(fn())
    first = time.perf_counter() - start
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        block(fn())
        best = min(best, time.perf_counter() - start)
    return first, best


def time_interleaved_samples(
    calls: dict[str, Callable[[], Any]], repeats: int
) -> dict[str, list[float]]:
    """Steady seconds of each (already compiled) zero-argument call, one sample per round.

    Every round runs each call once in turn (a warm call, then a timed one), ``repeats`` rounds,
    so that load from other processes hits every variant alike and ratios between them stay
    fair on a shared machine.
    """
    samples: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(repeats):
        for name, call in calls.items():
            samples[name].append(time_compiled(call, 1)[1])
    return samples


def time_interleaved(calls: dict[str, Callable[[], Any]], repeats: int) -> dict[str, float]:
    """Best steady seconds of each call over interleaved rounds (:func:`time_interleaved_samples`)."""
    return {name: min(times) for name, times in time_interleaved_samples(calls, repeats).items()}
