"""The long-run fairness experiment over 2000 test steps: does every method hold its target that long?

Trains CPO, PPO-Lagrangian and the unconstrained agent on continuing worlds, then serves them,
FairCo and the frozen-label and live-label re-rankers for 2000 steps per seed; prints the summary
table (tails = the last 1000 steps) and writes the summary JSON and plots. Equivalent to
``jaxrec train platform --platform-steps 2000 ...``; minutes on a 2-core CPU at the default sizes.

    python benchmarks/long_run_2000.py [--data ml-100k --data-dir DIR] [--out DIR]
"""

from __future__ import annotations

import argparse

from jaxrec.experiments.platform_long_run import (
    format_summary,
    run_long_run,
    summarise,
    write_results,
)
from jaxrec.experiments.platform_long_run_setup import DATA_CHOICES, LongRunExperiment


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="synthetic", choices=DATA_CHOICES)
    parser.add_argument("--data-dir")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--worlds", type=int, default=2)
    parser.add_argument("--users", type=int, default=64)
    parser.add_argument("--iterations", type=int, default=40)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--out", default="benchmarks/results/long_run_2000")
    args = parser.parse_args()
    experiment = LongRunExperiment(
        data=args.data,
        data_dir=args.data_dir,
        n_users=args.users,
        n_items=200,
        n_worlds=args.worlds,
        iterations=args.iterations,
        reset_every=0,  # 40 iterations x 50 steps: the training worlds age through the whole test
        seeds=args.seeds,
        test_steps=args.steps,
    )
    frame, training = run_long_run(experiment)
    summary = summarise(frame, training, experiment)
    write_results(args.out, frame, summary, experiment)
    print(format_summary(summary))


if __name__ == "__main__":
    main()
