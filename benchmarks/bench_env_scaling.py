"""Scaling of the platform env's compiled rollout in users, items and slate size.

Prints a table and writes JSON (default benchmarks/results/env_scaling.json). Each row is one
`jaxrec bench env` measurement (greedy policy, all dynamics on); rows share one process so their
ratios are comparable. The NumPy reference is timed only at the headline size.

    python benchmarks/bench_env_scaling.py [--steps 20] [--json PATH]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from jaxrec.bench import env as env_bench
from jaxrec.io import write_json

GRID = [
    # (users, items, slate)
    (1024, 1682, 10),
    (4096, 1682, 10),
    (16384, 1682, 10),
    (4096, 512, 10),
    (4096, 8192, 10),
    (4096, 1682, 5),
    (4096, 1682, 20),
]
HEADLINE = (4096, 1682, 10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--json", default="benchmarks/results/env_scaling.json")
    args = parser.parse_args()
    defaults = argparse.ArgumentParser()
    env_bench.add_arguments(defaults)
    rows = []
    print(
        f"{'users':>7} {'items':>7} {'slate':>5} {'compile_s':>9} {'user-steps/s':>13} {'x ref':>7}"
    )
    for users, items, slate in GRID:
        bench_args = defaults.parse_args(
            [
                f"--users={users}",
                f"--items={items}",
                f"--slate={slate}",
                f"--steps={args.steps}",
                f"--reference-steps={1 if (users, items, slate) == HEADLINE else 0}",
            ]
        )
        record = env_bench.run(bench_args)
        rows.append(record)
        ratio = record.get("speedup_vs_reference")
        print(
            f"{users:>7} {items:>7} {slate:>5} {record['compile_s']:>9.2f} "
            f"{record['user_steps_per_s']:>13,.0f} {'' if ratio is None else f'{ratio:>7.0f}'}"
        )
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    write_json(args.json, rows)
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
