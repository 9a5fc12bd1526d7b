"""PE-LTR overhead per FM training step and the time of a 16 x 3 frontier trained as one program
(fixed weights vs PE-LTR with the exact and with the shared-logits Gram).

Usage: python benchmarks/bench_pareto.py [--json benchmarks/results/pareto.json] [jaxrec bench pareto flags]
Prints a table and writes the JSON record of :mod:`jaxrec.bench.pareto`.
"""

from __future__ import annotations

import argparse

from jaxrec.bench import pareto
from jaxrec.io import write_json


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", default="benchmarks/results/pareto.json")
    pareto.add_arguments(parser)
    args = parser.parse_args()
    record = pareto.run(args)
    step = record["step"]
    print(f"device: {record['device']['device']}")
    print(f"{'FM training step':<42}{'ms/step':>10}{'vs plain':>10}")
    overhead = step["overhead_vs_plain"]
    print(f"{'plain_step':<42}{1e3 * step['plain_step']['per_step_s']:>10.3f}{'':>10}")
    for name in (
        "pareto_dense_step",
        "rows_fixed_weights_step",
        "pareto_rows_step",
        "pareto_shared_step",
    ):
        per_step = 1e3 * step[name]["per_step_s"]
        print(f"{name:<42}{per_step:>10.3f}{overhead[name]:>+10.1%}")
    for name in ("dense", "rows"):
        label = f"solve + combine alone ({name})"
        solve_ms = 1e3 * step[f"solve_combine_{name}_s"]
        print(f"{label:<42}{solve_ms:>10.3f}{overhead[f'solve_combine_{name}']:>+10.1%}")
    gram_share = overhead["gram_and_solve_in_rows_step"]
    print(f"Gram + solve inside the rows step (rows - rows_fixed_weights): {gram_share:+.1%}")
    if "frontier" in record:
        frontier = record["frontier"]
        print(
            f"frontier {frontier['settings']} settings x {frontier['seeds']} seeds x "
            f"{frontier['steps']} steps, one program each:"
        )
        for name in ("fixed", "pareto_exact", "pareto_shared"):
            timing = frontier[name]
            print(
                f"  {name:<16}compile {timing['compile_s']:5.1f} s  run {timing['run_s']:6.2f} s  "
                f"x{timing['vs_fixed']:.2f} vs fixed"
            )
    write_json(args.json, record)
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
