"""Joining a multi-process JAX cluster for a sweep (``jax.distributed``, no home-made scheduler).

Each process runs the same sweep; the run axis is sharded over the devices of all processes, and
each process writes the metric rows of the runs on its own devices (``part-*-pNNN.parquet``).
"""

from __future__ import annotations

import os

import jax


def initialize_from_environment() -> None:
    """Call :func:`jax.distributed.initialize` from the standard environment variables.

    ``JAX_COORDINATOR_ADDRESS`` (``host:port`` of process 0) is read by JAX itself;
    ``JAX_NUM_PROCESSES`` and ``JAX_PROCESS_ID`` are passed when set. With none of them, JAX
    detects the cluster (SLURM, Open MPI, cloud TPU).
    """
    num_processes = os.environ.get("JAX_NUM_PROCESSES")
    process_id = os.environ.get("JAX_PROCESS_ID")
    # Only the CPU client reads this; without it CPU processes cannot run collectives.
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(
        num_processes=int(num_processes) if num_processes else None,
        process_id=int(process_id) if process_id else None,
    )
