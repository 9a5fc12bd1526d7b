"""Run a sweep to a results folder: chunked horizon, streamed metrics, checkpoint and resume.

Layout of ``DIR``::

    sweep.toml               the sweep file as given
    sweep.json               the canonical spec, jaxrec/JAX versions, progress ("complete")
    metrics.parquet/         tidy metrics, one Parquet part per chunk and process
        part-000000100-p000.parquet      (read the folder with pandas.read_parquet(DIR/metrics.parquet))
    checkpoints/<step>/      orbax checkpoints of the carry (the two newest are kept)

Crash consistency: a chunk's metrics part is written (atomically) before the carry after that chunk
is checkpointed, and orbax finalises a checkpoint by an atomic rename. ``resume`` restores the newest
finished checkpoint at step ``c`` and deletes the parts past ``c``, so the folder is exactly what an
uninterrupted run had written at step ``c``; the chunk programs are deterministic, so the rest of the
run reproduces the uninterrupted numbers bit for bit.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import numpy as np

from jaxrec.errors import ConfigError, Interrupted
from jaxrec.io import atomic_path, write_json, write_parquet
from jaxrec.ops.chunks import run_chunks
from jaxrec.sweep.engine import SweepProgram, global_array
from jaxrec.sweep.spec import SweepSpec

METRICS_DIR = "metrics.parquet"


def _canonical(spec: SweepSpec) -> Any:
    return json.loads(json.dumps(spec.to_dict()))


def _any_process(flag: bool) -> bool:
    """Whether ``flag`` is set in any process of the sweep. A Ctrl-C reaches only the process of
    the terminal it was typed in; agreeing at every chunk boundary makes all processes stop (and
    checkpoint) at the same step instead of leaving the others waiting in a collective."""
    if jax.process_count() == 1:
        return flag
    from jax.experimental import multihost_utils

    return bool(np.asarray(multihost_utils.process_allgather(np.int32(flag))).any())


def _parts(out: Path, process: int) -> dict[int, Path]:
    """This process's metric parts by the step at the end of their chunk."""
    parts = {}
    for path in (out / METRICS_DIR).glob(f"part-*-p{process:03d}.parquet"):
        parts[int(path.name.split("-")[1])] = path
    return parts


def _check_folder(out: Path, spec: SweepSpec, resume: bool) -> None:
    meta_path = out / "sweep.json"
    if not meta_path.exists():
        return
    if not resume:
        raise ConfigError(
            "out",
            f"{out} already holds a sweep; pass --resume to continue it or choose a new folder",
        )
    stored, given = json.loads(meta_path.read_text())["spec"], _canonical(spec)
    if stored != given:
        changed = sorted(k for k in set(stored) | set(given) if stored.get(k) != given.get(k))
        raise ConfigError(
            "sweep",
            f"{out} holds results of a different sweep file (differs in: {', '.join(changed)}); "
            "resume with the original file or write to a new --out folder",
        )


def _nonempty_leaves(carry: Any) -> dict[str, jax.Array]:
    """The carry's leaves by flat index, without zero-size ones (orbax cannot store those)."""
    return {f"{i:04d}": x for i, x in enumerate(jax.tree.leaves(carry)) if x.size}


def _restore(manager: Any, step: int, program: SweepProgram) -> Any:
    """Rebuild the carry saved at ``step``; zero-size leaves come back empty."""
    import orbax.checkpoint as ocp

    abstract = program.abstract_carry()
    saved = manager.restore(step, args=ocp.args.StandardRestore(_nonempty_leaves(abstract)))
    leaves, treedef = jax.tree.flatten(abstract)
    return jax.tree.unflatten(
        treedef,
        [
            saved[f"{i:04d}"]
            if leaf.size
            else global_array(np.zeros(leaf.shape, leaf.dtype), leaf.sharding)
            for i, leaf in enumerate(leaves)
        ],
    )


def run_sweep(
    spec: SweepSpec,
    out: str | Path,
    *,
    resume: bool = False,
    sweep_text: str | None = None,
    progress: bool = True,
    devices: list[Any] | None = None,
    max_chunks: int | None = None,
    program: SweepProgram | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Path:
    """Run ``spec`` and write its results under ``out`` (layout in the module docstring).

    Args:
      resume: continue from the newest checkpoint in ``out`` (refused if ``out`` holds a
        different sweep); without it ``out`` must not hold a sweep yet.
      sweep_text: the sweep file's text, stored as ``sweep.toml``.
      progress: show a progress bar (process 0 only) with steps/s and user-steps/s.
      devices: devices of the run-axis mesh (default: all devices of all processes).
      max_chunks: stop after this many chunks of this call (for tests and time-boxed jobs).
      program: a :class:`SweepProgram` of ``spec`` built earlier, whose compiled chunks are reused.
      should_stop: asked after each chunk; when it answers True the chunk's metrics are written, the
        carry is checkpointed (so ``resume`` continues from exactly there) and
        :class:`~jaxrec.errors.Interrupted` is raised naming the step reached.

    Returns:
      ``out`` as a Path.
    """
    import orbax.checkpoint as ocp
    from tqdm.auto import tqdm

    import jaxrec

    out = Path(out).absolute()
    process = jax.process_index()
    _check_folder(out, spec, resume)
    program = SweepProgram(spec, devices) if program is None else program
    if process == 0:
        if sweep_text is not None:
            with atomic_path(out / "sweep.toml") as tmp:
                tmp.write_text(sweep_text)
        meta = {
            "spec": _canonical(spec),
            "jaxrec_version": jaxrec.__version__,
            "jax_version": jax.__version__,
            "n_runs": program.n_runs,
            "n_processes": jax.process_count(),
            "devices": len(program.mesh.devices.flat),
            "complete": False,
        }
        write_json(out / "sweep.json", meta)

    manager = ocp.CheckpointManager(
        out / "checkpoints", options=ocp.CheckpointManagerOptions(max_to_keep=2, create=True)
    )
    latest = manager.latest_step() if resume else None
    if latest is not None:
        carry = _restore(manager, latest, program)
        done = int(latest)
    else:
        carry, done = program.init(), 0
    for step, path in _parts(out, process).items():
        if step > done:
            path.unlink()
    # half-written parts of a killed run (atomic writes leave hidden temporaries)
    for path in (out / METRICS_DIR).glob(f".part-*-p{process:03d}.parquet.*.tmp"):
        path.unlink()

    n_users = program.env.n_users
    bar = tqdm(
        total=spec.steps,
        initial=done,
        unit="step",
        desc=spec.name,
        disable=not progress or process != 0,
    )
    pending: list[tuple[int, int, dict[str, jax.Array]]] = []  # (start, length, metrics)
    last_tick = time.perf_counter()

    def flush() -> None:
        """Write the pending chunk's metrics part and advance the progress bar."""
        nonlocal last_tick
        start, length, metrics = pending.pop()
        frame = program.frame(metrics, start)
        end = start + length
        write_parquet(out / METRICS_DIR / f"part-{end:09d}-p{process:03d}.parquet", frame)
        now = time.perf_counter()
        bar.update(length)
        rate = length * program.n_runs * n_users / max(now - last_tick, 1e-9)
        bar.set_postfix(user_steps_per_s=f"{rate:.3g}")
        last_tick = now

    try:
        run = run_chunks(
            lambda carry, length, _: program.run_chunk(carry, length),  # dispatched asynchronously
            carry,
            spec.steps,
            spec.chunk,
            start=done,
        )
        for end, metrics, carry in itertools.islice(run, max_chunks):
            if pending:  # host work on the previous chunk overlaps this chunk's computation
                flush()
            pending.append((done, end - done, metrics))
            done = end
            stop = should_stop is not None and done < spec.steps and _any_process(should_stop())
            if (
                stop
                or done == spec.steps
                or (spec.checkpoint_every and (done // spec.chunk) % spec.checkpoint_every == 0)
            ):
                flush()  # a checkpoint at step c implies every part up to c is on disk
                manager.save(done, args=ocp.args.StandardSave(_nonempty_leaves(carry)))
            if stop:
                raise Interrupted(f"stopped at step {done} of {spec.steps}")
        if pending:
            flush()
    finally:
        bar.close()
        manager.wait_until_finished()
        manager.close()
    if done == spec.steps and process == 0:
        meta = json.loads((out / "sweep.json").read_text())
        write_json(out / "sweep.json", {**meta, "complete": True})
    return out


def load_metrics(out: str | Path) -> Any:
    """All metric rows of a results folder as one DataFrame, sorted by run and step."""
    import pandas as pd

    frame = pd.read_parquet(Path(out) / METRICS_DIR)
    return frame.sort_values(["run", "step"], kind="stable").reset_index(drop=True)
