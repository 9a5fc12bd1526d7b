"""Platform env throughput on both selection paths (C++ kernel, lax.top_k) beside the NumPy reference."""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import jax
import numpy as np

from jaxrec.bench import block, device_info, time_interleaved_samples


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--users", type=int, default=4096)
    parser.add_argument("--items", type=int, default=1682)
    parser.add_argument("--slate", type=int, default=10)
    parser.add_argument("--steps", type=int, default=50, help="steps per timed rollout")
    parser.add_argument("--worlds", type=int, default=1)
    parser.add_argument("--dim", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5, help="interleaved timing rounds")
    parser.add_argument(
        "--reference-steps", type=int, default=1, help="NumPy reference steps per round; 0 skips it"
    )


def _comparable(leaf: jax.Array) -> np.ndarray:
    if jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
        leaf = jax.random.key_data(leaf)
    return np.asarray(leaf)


def _path_row(path: str, seconds: list[float], work: int, compile_s: float | None) -> dict:
    best, median = min(seconds), statistics.median(seconds)
    return {
        "path": path,
        "user_steps_per_s": work / best,
        "median_user_steps_per_s": work / median,
        "slowest_user_steps_per_s": work / max(seconds),
        "compile_s": compile_s,
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    from jaxrec.agents import GreedyPolicy
    from jaxrec.data import synthetic_world
    from jaxrec.envs import PlatformEnv, init_carry, make_rollout
    from jaxrec.envs.reference import reference_greedy_slates, reference_step
    from jaxrec.ops.selection import cpu_selection_path, selection_mode_override
    from jaxrec.ops.selection_ffi import TARGET, kernel_status

    world = synthetic_world(0, n_users=args.users, n_items=args.items, dim=args.dim)
    env = PlatformEnv(n_users=args.users, slate_size=args.slate)
    params = env.default_params(world)
    policy = GreedyPolicy(env)
    policy_params = policy.init_params()
    keys = jax.random.split(jax.random.key(0), args.worlds)
    # params are arguments, not closed-over constants, so XLA does not constant-fold the world
    init = jax.jit(jax.vmap(lambda k, p: init_carry(env, k, p), in_axes=(0, None)))
    carry = block(init(keys, params))

    # One program per selection path, traced under its mode; the compiled program says which
    # path it holds (the kernel's custom call is there or not).
    programs, compile_s, results = {}, {}, {}
    for mode in ("auto", "portable"):
        with selection_mode_override(mode):
            path = cpu_selection_path()
            if path in programs:
                continue
            rollout = jax.vmap(make_rollout(env, policy, args.steps), in_axes=(0, None, None))
            start = time.perf_counter()
            program = jax.jit(rollout).lower(carry, params, policy_params).compile()
            results[path] = block(program(carry, params, policy_params))
            compile_s[path] = time.perf_counter() - start
        has_kernel = TARGET in program.as_text()
        if has_kernel != (path == "kernel"):
            raise RuntimeError(f"the {path} program {'holds' if has_kernel else 'lacks'} {TARGET}")
        programs[path] = program
    default_path = next(iter(programs))
    # Both paths select exactly, so the whole rollout (state, metrics, keys) must be identical.
    paths_agree = all(
        np.array_equal(_comparable(a), _comparable(b), equal_nan=True)
        for other in results.values()
        for a, b in zip(jax.tree.leaves(results[default_path]), jax.tree.leaves(other), strict=True)
    )

    calls = {
        path: lambda program=program: program(carry, params, policy_params)
        for path, program in programs.items()
    }
    if args.reference_steps:
        _, ref_state = env.reset(jax.random.key(1), params)
        sample = jax.jit(env.sample_noise)
        block(sample(jax.random.key(0), params))

        def reference():
            nonlocal ref_state
            for step in range(args.reference_steps):
                noise = sample(jax.random.key(step), params)
                slate = reference_greedy_slates(ref_state, params, args.slate)
                fields, *_ = reference_step(ref_state, slate, noise, params, env.history_len, 0, 0)
                ref_state = ref_state.replace(**{k: np.asarray(v) for k, v in fields.items()})

        calls["numpy reference"] = reference
    seconds = time_interleaved_samples(calls, args.repeats)

    rollout_work = args.worlds * args.users * args.steps
    rows = [_path_row(path, seconds[path], rollout_work, compile_s[path]) for path in programs]
    record: dict[str, Any] = {
        "benchmark": "env",
        **device_info(),
        "users": args.users,
        "items": args.items,
        "slate": args.slate,
        "dim": args.dim,
        "worlds": args.worlds,
        "steps": args.steps,
        "repeats": args.repeats,
        "kernel_status": kernel_status(),
        "selection_path": default_path,
        "paths_agree": bool(paths_agree),
        "compile_s": compile_s[default_path],
        "seconds_per_rollout": min(seconds[default_path]),
        "user_steps_per_s": rows[0]["user_steps_per_s"],
    }
    if args.reference_steps:
        reference_row = _path_row(
            "numpy reference", seconds["numpy reference"], args.users * args.reference_steps, None
        )
        for row in rows:
            row["speedup_vs_reference"] = (
                row["user_steps_per_s"] / reference_row["user_steps_per_s"]
            )
            row["median_speedup_vs_reference"] = (
                row["median_user_steps_per_s"] / reference_row["median_user_steps_per_s"]
            )
        rows.append(reference_row)
        record["reference_user_steps_per_s"] = reference_row["user_steps_per_s"]
        record["speedup_vs_reference"] = rows[0]["speedup_vs_reference"]
    record["paths"] = rows
    return record
