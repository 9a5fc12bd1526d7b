"""Sweep throughput for 1, 8 and 64 grid points, and the cost of result streaming + checkpoints."""

from __future__ import annotations

import argparse
import tempfile
import time

from jaxrec.bench import block, device_info, time_compiled


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--users", type=int, default=256)
    parser.add_argument("--items", type=int, default=1024)
    parser.add_argument("--slate", type=int, default=10)
    parser.add_argument("--points", default="1,8,64", help="grid sizes to time (comma-separated)")
    parser.add_argument("--seeds", type=int, default=1, help="seeds per grid point")
    parser.add_argument("--chunk", type=int, default=100, help="steps per compiled chunk")
    parser.add_argument("--chunks", type=int, default=10, help="chunks of the overhead run")
    parser.add_argument("--log-every", type=int, default=10, help="logging interval (steps)")
    parser.add_argument("--checkpoint-every", type=int, default=10, help="chunks per checkpoint")
    parser.add_argument("--repeats", type=int, default=3)


def _spec(args: argparse.Namespace, n_points: int, steps: int):
    from jaxrec.sweep.spec import spec_from_dict

    return spec_from_dict(
        {
            "name": f"bench_{n_points}",
            "world": {"n_users": args.users, "n_items": args.items},
            "env": {"slate_size": args.slate},
            "policy": {"name": "static_rerank"},
            "run": {
                "steps": steps,
                "chunk": args.chunk,
                "seeds": args.seeds,
                "log_every": args.log_every,
                "checkpoint_every": args.checkpoint_every,
            },
            "grid": {
                "env.popularity_beta": [1.5 * i / max(n_points - 1, 1) for i in range(n_points)]
            },
        }
    )


def run(args: argparse.Namespace) -> dict:
    from jaxrec.sweep.engine import SweepProgram
    from jaxrec.sweep.runner import run_sweep

    sizes = [int(p) for p in args.points.split(",")]
    rows = []
    overhead = None
    for n_points in sizes:
        steps = args.chunk * args.chunks
        spec = _spec(args, n_points, steps)
        program = SweepProgram(spec)
        carry = [program.init()]

        def one_chunk(program=program, carry=carry):
            carry[0], metrics = program.run_chunk(carry[0], args.chunk)
            return metrics

        compile_s, chunk_s = time_compiled(one_chunk, args.repeats)
        user_steps = program.n_runs * args.users * args.chunk
        rows.append(
            {
                "points": n_points,
                "runs": program.n_runs,
                "compile_s": compile_s,
                "seconds_per_chunk": chunk_s,
                "user_steps_per_s": user_steps / chunk_s,
            }
        )
        if (overhead is None and n_points >= 8) or (n_points == sizes[-1] and overhead is None):
            # The same horizon bare (chunks back to back) and through run_sweep (parquet
            # parts every chunk, orbax checkpoints every --checkpoint-every chunks).
            carry[0] = program.init()
            block(carry[0])
            start = time.perf_counter()
            for _ in range(args.chunks):
                block(one_chunk())
            bare_s = time.perf_counter() - start
            with tempfile.TemporaryDirectory() as out:
                start = time.perf_counter()
                run_sweep(spec, out, progress=False, program=program)
                full_s = time.perf_counter() - start
            overhead = {
                "points": n_points,
                "steps": steps,
                "bare_s": bare_s,
                "with_results_and_checkpoints_s": full_s,
                "overhead_fraction": full_s / bare_s - 1.0,
            }
    return {
        "benchmark": "sweep",
        **device_info(),
        "users": args.users,
        "items": args.items,
        "slate": args.slate,
        "seeds": args.seeds,
        "chunk": args.chunk,
        "log_every": args.log_every,
        "checkpoint_every": args.checkpoint_every,
        "grid": rows,
        "overhead": overhead,
    }
