"""The one chunked-horizon loop: a long run as a Python loop over compiled chunks, so memory stays
flat in the horizon and results stream out chunk by chunk. Simulations
(:func:`jaxrec.envs.run_chunked`), the closed loop, the FCPO training grid and the sweep engine
(which adds sharding and checkpoints) all advance through :func:`run_chunks`."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

Carry = TypeVar("Carry")


def run_chunks(
    advance: Callable[[Carry, int, int], tuple[Carry, Any]],
    carry: Carry,
    n_steps: int,
    chunk: int,
    start: int = 0,
) -> Iterator[tuple[int, Any, Carry]]:
    """Advance ``carry`` from step ``start`` to ``n_steps`` in chunks of ``chunk`` steps.

    ``advance(carry, length, done) -> (carry, metrics)`` runs ``length`` steps from step ``done``.
    Yields ``(steps_done, metrics, carry)`` after each chunk. Only the last chunk may be shorter, so
    a program cached per length (:func:`per_length`) compiles at most twice.

    >>> [(done, m) for done, m, _ in run_chunks(lambda c, n, d: (c + n, (d, n)), 0, 7, 3)]
    [(3, (0, 3)), (6, (3, 3)), (7, (6, 1))]
    """
    done = start
    while done < n_steps:
        length = min(chunk, n_steps - done)
        carry, metrics = advance(carry, length, done)
        done += length
        yield done, metrics, carry


def per_length(build: Callable[[int], Callable]) -> Callable[[int], Callable]:
    """``build(length)`` (a compiled chunk program) called once per distinct chunk length."""
    return functools.cache(build)
