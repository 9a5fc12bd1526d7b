"""Memory estimates from shapes, checked against the device before anything is allocated.

The estimates are deliberately simple upper-bound sums of the arrays a run holds at once (float32 /
int32 = 4 bytes). The dominant term of a platform step is the user x item score matrix every policy
builds (and masks, and takes the top-k of) for each world, so a world costs about
``U * M * 4 bytes * 3`` on top of its state; worlds, sweep runs and training seeds run side by side
(``vmap``), so the per-world cost multiplies by their number. ``--allow-large`` skips the refusal
for people who know better (e.g. a machine whose memory the estimate does not see).
"""

from __future__ import annotations

import os

from jaxrec.errors import ResourceError

FLOAT = 4  # bytes of a float32 / int32
SCORE_COPIES = 3  # scores, the action mask and top-k's working copy of a user x item matrix
CHECK_ABOVE = 256 * 2**20  # below this an estimate is never worth looking up the device for


def platform_bytes(
    *,
    n_users: int,
    n_items: int,
    dim: int,
    slate_size: int,
    n_worlds: int,
    chunk: int = 100,
    log_steps: int = 0,
    pool_users: int | None = None,
    history_len: int = 10,
    seen_window: int = 0,
) -> int:
    """Bytes to run ``n_worlds`` platform worlds side by side for a compiled chunk of ``chunk`` steps.

    Per world: the state (users x (dim + history + seen slates), items x (dim + ~16 fields), the
    interaction log), twice (a chunk's input and output carry), plus the score matrices of one step
    and the chunk's logged metrics; once: the world's factor tables.
    """
    users = n_users * (dim + history_len + seen_window * slate_size + 8)
    items = n_items * (dim + 16)
    log = log_steps * n_users * slate_size * 3
    state = 2 * (users + items + log)
    step = SCORE_COPIES * n_users * n_items
    metrics = chunk * 16
    world = ((pool_users or n_users) + n_items) * (dim + 4)
    return FLOAT * (n_worlds * (state + step + metrics) + world)


def training_bytes(*, n_users: int, n_items: int, steps: int, batch: int) -> int:
    """Bytes to train ``batch`` agents (seeds x limits) side by side on episodes of ``steps`` steps.

    An agent's episode keeps every step's user x item logits for the policy gradient.
    """
    per_agent = n_users * n_items * (steps + SCORE_COPIES)
    return FLOAT * batch * per_agent


def fm_bytes(
    *,
    n_features: int,
    dim: int,
    runs: int,
    n_rows: int,
    row_width: int,
    eval_rows: int,
    param_copies: int = 6,
) -> int:
    """Bytes to train ``runs`` factorization machines side by side (seeds x configurations, or
    settings x seeds for PE-LTR) on ``n_rows`` samples of ``row_width`` numbers each.

    Per run: the feature table (``n_features x (dim + 1)``) in ``param_copies`` copies (the
    parameters, the best parameters kept for early stopping, the optimiser's two moments, the
    gradient and the adversarial perturbation or per-objective gradients) and its logits over
    ``eval_rows`` evaluation samples (twice: scores and their ranking); once: the data.
    """
    per_run = n_features * (dim + 1) * param_copies + 2 * eval_rows
    return FLOAT * (runs * per_run + n_rows * row_width)


def available_bytes() -> tuple[int, str]:
    """The memory a run may use and what it is: the accelerator's free memory when JAX reports it,
    otherwise the host's available memory (``MemAvailable`` of /proc/meminfo, or free pages)."""
    import jax

    device = jax.devices()[0]
    stats = device.memory_stats() if hasattr(device, "memory_stats") else None
    if stats and "bytes_limit" in stats:
        free = int(stats["bytes_limit"]) - int(stats.get("bytes_in_use", 0))
        return free, f"free memory of {device.device_kind}"
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024, "available system memory"
    except OSError:
        pass
    pages = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return int(pages), "free system memory"


def human(n_bytes: float) -> str:
    """``n_bytes`` in TiB/GiB/MiB with three significant digits."""
    if n_bytes >= 2**40:
        return f"{n_bytes / 2**40:.3g} TiB"
    if n_bytes >= 2**30:
        return f"{n_bytes / 2**30:.3g} GiB"
    return f"{n_bytes / 2**20:.3g} MiB"


def check_fits(estimate: int, what: str, *, allow_large: bool = False) -> None:
    """Raise :class:`ResourceError` when ``estimate`` bytes exceed the device's available memory.

    ``what`` describes the run in the message (``"100000 world(s) of 512 users x 1000 items"``).
    """
    if allow_large or estimate <= CHECK_ABOVE:
        return
    limit, kind = available_bytes()
    if estimate > limit:
        raise ResourceError(
            f"{what} needs about {human(estimate)} (estimated from the shapes) but the "
            f"{kind} is {human(limit)}; make the run smaller (fewer worlds, seeds, users or "
            "items) or pass --allow-large to try anyway"
        )
