"""Sweep throughput in user-steps/s for 1, 8 and 64 grid points, and the cost of results + checkpoints.

Prints a table and writes JSON (default benchmarks/results/sweep.json). Each grid size is one
compiled program over all its runs (`jaxrec bench sweep`); the overhead row runs the same horizon
bare (chunks back to back) and through `run_sweep` (a Parquet part per chunk, an orbax checkpoint
every --checkpoint-every chunks) at the default intervals.

    python benchmarks/bench_sweep.py [--users 256] [--points 1,8,64] [--json PATH]
"""

from __future__ import annotations

import argparse

from jaxrec.bench import sweep as sweep_bench
from jaxrec.io import write_json


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sweep_bench.add_arguments(parser)
    parser.add_argument("--json", default="benchmarks/results/sweep.json")
    args = parser.parse_args()
    record = sweep_bench.run(args)
    print(f"device {record['device']} x{record['device_count']}, jax {record['jax_version']}")
    print(f"{'points':>6} {'runs':>5} {'compile_s':>9} {'s/chunk':>8} {'user-steps/s':>13}")
    for row in record["grid"]:
        print(
            f"{row['points']:>6} {row['runs']:>5} {row['compile_s']:>9.2f} "
            f"{row['seconds_per_chunk']:>8.3f} {row['user_steps_per_s']:>13.3g}"
        )
    overhead = record["overhead"]
    print(
        f"results + checkpoints overhead at {overhead['points']} points, {overhead['steps']} steps: "
        f"{100 * overhead['overhead_fraction']:.1f}% "
        f"({overhead['bare_s']:.2f} s bare, {overhead['with_results_and_checkpoints_s']:.2f} s)"
    )
    write_json(args.json, record)
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
