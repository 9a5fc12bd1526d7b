"""PE-LTR overhead per FM training step (exact and shared-logits Gram) and a 16x3 frontier program."""

from __future__ import annotations

import argparse
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxrec.bench import block, device_info, time_compiled, time_interleaved
from jaxrec.models.fm import (
    bce_with_logits,
    fm_logits,
    fm_logits_from_embeddings,
    init_fm_params,
)
from jaxrec.pareto.solvers import get_solver
from jaxrec.pareto.transform import (
    combine_gradients,
    gram_matrix,
    pareto_weights,
    value_and_objective_grads,
    value_and_row_objective_grads,
    value_and_shared_grads,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--features", type=int, default=100_000, help="FM table rows")
    parser.add_argument("--dim", type=int, default=16, help="FM embedding dimension")
    parser.add_argument("--fields", type=int, default=4, help="fields per sample")
    parser.add_argument("--batch", type=int, default=4096, help="impressions per step")
    parser.add_argument("--steps", type=int, default=50, help="steps per timed call (one scan)")
    parser.add_argument("--objectives", type=int, default=2, help="K objectives")
    parser.add_argument("--solver", default="auto")
    parser.add_argument("--frontier-settings", type=int, default=16)
    parser.add_argument("--frontier-seeds", type=int, default=3)
    parser.add_argument("--frontier-steps", type=int, default=600)
    parser.add_argument("--frontier-repeats", type=int, default=3, help="frontier calls (best)")
    parser.add_argument("--skip-frontier", action="store_true")
    parser.add_argument("--repeats", type=int, default=20, help="interleaved timing rounds (best)")


def _scores(params: dict, batch: dict) -> jax.Array:
    """FM logits f32[B] of the batch (the shared representation of ``pareto_shared_step``)."""
    return fm_logits(params, batch["ids"])


def _losses_of_scores(logits: jax.Array, batch: dict) -> jax.Array:
    """K BCE losses of one FM score f32[B] on K label columns; f32[K]."""
    return jnp.mean(bce_with_logits(logits[None, :], batch["labels"]), axis=-1)


def _losses(params: dict, batch: dict) -> jax.Array:
    return _losses_of_scores(_scores(params, batch), batch)


def _row_losses(others: dict, rows: jax.Array, batch: dict) -> jax.Array:
    """:func:`_losses` from already looked-up embedding rows f32[B, F, d]; f32[K]."""
    logits = fm_logits_from_embeddings(rows, others["linear"], others["bias"])
    return _losses_of_scores(logits, batch)


def _step_timings(args: argparse.Namespace) -> dict[str, Any]:
    """Per-step times of a plain FM step and of PE-LTR steps, timed interleaved in one process.

    - ``plain_step``: one backward pass of a fixed scalarisation (the baseline).
    - ``pareto_dense_step``: K backward passes into the dense table, Gram and combine over the
      whole [K, rows, d] table gradient (the straightforward PE-LTR step).
    - ``rows_fixed_weights_step``: the same per-objective row gradients combined with fixed
      weights (no Gram, no solve).
    - ``pareto_rows_step``: the K-way pullback stops at the looked-up rows
      (:func:`value_and_row_objective_grads`); Gram and combine touch only those rows.
    - ``pareto_shared_step``: MGDA-UB (Sener & Koltun 2018), the Gram of the K gradients with
      respect to the logits and one backward pass of the combined cotangent
      (:func:`value_and_shared_grads`).
    """
    k = args.objectives
    params = init_fm_params(jax.random.key(0), args.features, args.dim, args.fields)
    ids_key, label_key = jax.random.split(jax.random.key(1))
    batches = {
        "ids": jax.random.randint(ids_key, (args.steps, args.batch, args.fields), 0, args.features),
        "labels": (jax.random.uniform(label_key, (args.steps, k, args.batch)) < 0.3).astype(
            jnp.float32
        ),
    }
    fixed_weights = jnp.full((k,), 1.0 / k)
    adam = optax.adam(1e-3)
    pareto_chain = optax.chain(pareto_weights(np.zeros(k), solver=args.solver), optax.adam(1e-3))

    def scan_steps(step_fn, tx):
        def run(params):
            def body(carry, batch):
                params, state = carry
                updates, state = step_fn(params, state, batch, tx)
                return (optax.apply_updates(params, updates), state), None

            return jax.lax.scan(body, (params, tx.init(params)), batches)[0][0]

        return jax.jit(run)

    def plain(params, state, batch, tx):
        grads = jax.grad(lambda p: fixed_weights @ _losses(p, batch))(params)
        return tx.update(grads, state, params)

    def pareto_dense(params, state, batch, tx):
        _, grads = value_and_objective_grads(_losses, params, batch)
        return tx.update(grads, state, params)

    def row_grads_of(params, batch):
        return value_and_row_objective_grads(_row_losses, params, "embedding", batch["ids"], batch)[
            1
        ]

    def rows_fixed(params, state, batch, tx):
        return tx.update(combine_gradients(row_grads_of(params, batch), fixed_weights), state)

    def pareto_rows(params, state, batch, tx):
        return tx.update(row_grads_of(params, batch), state, params)

    def pareto_shared(params, state, batch, tx):
        _, grads = value_and_shared_grads(_losses_of_scores, _scores, params, batch)
        return tx.update(grads, state, params)

    steps = {
        "plain_step": scan_steps(plain, adam),
        "pareto_dense_step": scan_steps(pareto_dense, pareto_chain),
        "rows_fixed_weights_step": scan_steps(rows_fixed, adam),
        "pareto_rows_step": scan_steps(pareto_rows, pareto_chain),
        "pareto_shared_step": scan_steps(pareto_shared, pareto_chain),
    }
    # The solve + combine alone, on one step's per-objective gradients (dense and row form).
    first_batch = jax.tree.map(lambda x: x[0], batches)
    dense_grads = jax.jit(lambda p: value_and_objective_grads(_losses, p, first_batch)[1])(params)
    row_grads = jax.jit(
        lambda p: value_and_row_objective_grads(
            _row_losses, p, "embedding", first_batch["ids"], first_batch
        )[1]
    )(params)
    solve = get_solver(args.solver, k)

    @jax.jit
    def solve_and_combine(grads):
        weights = solve(gram_matrix(grads), jnp.zeros(k))
        return combine_gradients(grads, weights)

    calls = {name: (lambda fn=fn: fn(params)) for name, fn in steps.items()}
    calls["solve_combine_dense"] = lambda: solve_and_combine(dense_grads)
    calls["solve_combine_rows"] = lambda: solve_and_combine(row_grads)
    per_call = {name: args.steps for name in steps} | {
        "solve_combine_dense": 1,
        "solve_combine_rows": 1,
    }
    compile_s = {name: time_compiled(call, 0)[0] for name, call in calls.items()}
    best = {
        name: seconds / per_call[name]
        for name, seconds in time_interleaved(calls, args.repeats).items()
    }
    plain_s = best["plain_step"]
    return {
        **{name: {"compile_s": compile_s[name], "per_step_s": best[name]} for name in steps},
        "solve_combine_dense_s": best["solve_combine_dense"],
        "solve_combine_rows_s": best["solve_combine_rows"],
        "overhead_vs_plain": {
            "pareto_dense_step": best["pareto_dense_step"] / plain_s - 1.0,
            "rows_fixed_weights_step": best["rows_fixed_weights_step"] / plain_s - 1.0,
            "pareto_rows_step": best["pareto_rows_step"] / plain_s - 1.0,
            "pareto_shared_step": best["pareto_shared_step"] / plain_s - 1.0,
            "gram_and_solve_in_rows_step": (
                best["pareto_rows_step"] - best["rows_fixed_weights_step"]
            )
            / plain_s,
            "solve_combine_dense": best["solve_combine_dense"] / plain_s,
            "solve_combine_rows": best["solve_combine_rows"] / plain_s,
        },
    }


def _frontier_timing(args: argparse.Namespace) -> dict[str, Any]:
    """Seconds of the settings x seeds frontier program (one ``jit``) per training variant.

    ``fixed``: fixed-weight scalarisations; ``pareto_exact``: PE-LTR with the exact (row-sparse)
    Gram; ``pareto_shared``: PE-LTR with the Gram of the logits' gradients (MGDA-UB). Compile time
    is excluded from ``run_s`` (the best of ``--frontier-repeats`` interleaved calls).
    """
    from jaxrec.data.ecommerce import synthetic_ecommerce
    from jaxrec.pareto.ecommerce import ParetoTrainConfig, log_arrays, make_train_fn

    data = synthetic_ecommerce(n_lists=20000)
    first = np.linspace(0, 0.95, args.frontier_settings)
    bounds = jnp.asarray(np.stack([first, np.zeros_like(first)], 1), jnp.float32)
    fixed_weights = jnp.asarray(np.stack([1 - first, first], 1), jnp.float32)
    seeds = jnp.arange(args.frontier_seeds)
    train, test = log_arrays(data.train), log_arrays(data.test)
    variants = {
        "fixed": ("fixed", "exact", fixed_weights),
        "pareto_exact": ("pareto", "exact", bounds),
        "pareto_shared": ("pareto", "shared", bounds),
    }
    calls, compile_s = {}, {}
    for name, (mode, gram, settings) in variants.items():
        config = ParetoTrainConfig(steps=args.frontier_steps, gram=gram)
        program = make_train_fn(data, ("ctr", "gmv"), config, mode)
        start = time.perf_counter()
        compiled = program.lower(settings, seeds, train, test).compile()
        compile_s[name] = time.perf_counter() - start
        calls[name] = lambda compiled=compiled, settings=settings: compiled(
            settings, seeds, train, test
        )
    run_s = time_interleaved(calls, args.frontier_repeats)
    runs = args.frontier_settings * args.frontier_seeds
    return {
        "settings": args.frontier_settings,
        "seeds": args.frontier_seeds,
        "steps": args.frontier_steps,
        "programs_per_variant": 1,
        **{
            name: {
                "compile_s": compile_s[name],
                "run_s": run_s[name],
                "run_steps_per_s": runs * args.frontier_steps / run_s[name],
                "vs_fixed": run_s[name] / run_s["fixed"],
            }
            for name in calls
        },
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    record: dict[str, Any] = {
        "benchmark": "pareto",
        "config": {k: v for k, v in vars(args).items() if k not in ("func",)},
        "device": device_info(),
        "step": _step_timings(args),
    }
    if not args.skip_frontier:
        record["frontier"] = _frontier_timing(args)
    block(jnp.zeros(()))
    return record
