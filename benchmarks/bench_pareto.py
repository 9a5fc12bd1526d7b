"""PE-LTR overhead per FM training step and the time of a 16 x 3 frontier trained as one program.

Usage: python benchmarks/bench_pareto.py [--out results/bench_pareto.json] [jaxrec bench pareto flags]
Prints a table and writes the JSON record of :mod:`jaxrec.bench.pareto`.
"""

from __future__ import annotations

import argparse

from jaxrec.bench import pareto
from jaxrec.io import write_json


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="bench_pareto.json")
    pareto.add_arguments(parser)
    args = parser.parse_args()
    record = pareto.run(args)
    step = record["step"]
    print(f"device: {record['device']['device']}")
    print(f"{'FM training step':<42}{'ms/step':>10}")
    for name in ("plain_step", "per_objective_grads_step", "pareto_step"):
        print(f"{name:<42}{1e3 * step[name]['per_step_s']:>10.3f}")
    print(f"{'solve + combine alone':<42}{1e3 * step['solve_combine_s']:>10.3f}")
    print(f"solve+combine / plain step: {step['solve_combine_overhead_vs_plain']:.1%}")
    print(
        "(pareto - per-objective) / plain step: "
        f"{step['pareto_minus_per_objective_overhead_vs_plain']:.1%}"
    )
    if "frontier" in record:
        frontier = record["frontier"]
        print(
            f"frontier {frontier['settings']} bounds x {frontier['seeds']} seeds x "
            f"{frontier['steps']} steps, {frontier['programs']} program: compile "
            f"{frontier['compile_s']:.1f} s, run {frontier['run_s']:.2f} s "
            f"({frontier['run_steps_per_s']:.0f} run-steps/s)"
        )
    write_json(args.out, record)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
