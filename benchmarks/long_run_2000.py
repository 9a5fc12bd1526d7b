"""The long-run fairness experiment over 2000 test steps: does every method hold its target that long?

``jaxrec train platform`` at this benchmark's sizes: CPO, PPO-Lagrangian and the unconstrained
agent trained on 2 continuing worlds of 64 users x 200 items for 100 iterations (never reset, so
the training worlds age through the whole test; with 40, CPO's training cost ended 32% over its
limit), then served beside FairCo and the frozen-label
and live-label re-rankers for 2000 steps per seed. Prints the summary table (tails = the last 1000
steps) and writes the command's files. Any ``jaxrec train platform`` option may follow and
replaces the benchmark's value; minutes on a 2-core CPU at the default sizes.

    python benchmarks/long_run_2000.py [--data ml-100k --data-dir DIR] [--out DIR] [--overwrite]
"""

from __future__ import annotations

import sys

from jaxrec.cli import main

SIZES = [
    "--platform-steps", "2000", "--worlds", "2", "--platform-users", "64",
    "--platform-items", "200", "--iterations", "100", "--reset-every", "0", "--seeds", "3",
    "--out", "benchmarks/results/long_run_2000",
]  # fmt: skip

if __name__ == "__main__":
    sys.exit(main(["train", "platform", *SIZES, *sys.argv[1:]]))
