"""Seconds per FM epoch (clean and adversarial, AAFM or AdvFM) on ML-100K-sized data, 1 and 5 seeds.

Usage: python benchmarks/bench_fm.py [--json PATH] [--samples N --batch-size B --dim D --seeds 1 5]
       [--adversaries advfm aafm]
Prints a table and writes the record of ``jaxrec bench fm`` as JSON (default bench_fm.json).
"""

from __future__ import annotations

import argparse

from jaxrec.bench import fm
from jaxrec.io import write_json


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    fm.add_arguments(parser)
    parser.add_argument("--json", default="bench_fm.json")
    args = parser.parse_args()
    record = fm.run(args)
    print(f"{record['samples_per_epoch']} samples/epoch, batch {record['batch_size']}, "
          f"dim {record['dim']}, {record['table_rows']} rows, {record['device']['device']}")  # fmt: skip
    print(f"{'seeds':>5} {'adversary':>9} {'clean s/epoch':>14} {'adv s/epoch':>12} {'adv samples/s':>14}")  # fmt: skip
    for row in record["by_seeds"]:
        print(f"{row['seeds']:>5} {row['adversary']:>9} {row['seconds_per_clean_epoch']:>14.3f} "
              f"{row['seconds_per_adversarial_epoch']:>12.3f} {row['adversarial_samples_per_s']:>14,.0f}")  # fmt: skip
    write_json(args.json, record)
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
