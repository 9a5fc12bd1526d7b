"""Turning scores into slates: masked top-K selection without sorting the catalogue.

Two exact paths give the same slates: on CPU, when the optional C++ kernel is built, a
multi-threaded SIMD scan (:mod:`jaxrec.ops.selection_ffi`); elsewhere (GPU/TPU) or without the
kernel, ``lax.top_k``. ``JAXREC_SELECTION=portable`` in the environment, or
:func:`selection_mode_override`, forces ``lax.top_k`` everywhere for A/B comparisons. The path is
chosen when a function is traced, so a function jitted before a switch keeps its path.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import jax
import jax.numpy as jnp

from jaxrec.errors import ConfigError
from jaxrec.ops.selection_ffi import kernel_loaded, select_top_k_kernel

SELECTION_MODES = ("auto", "portable")
_override: list[str] = []


def selection_mode() -> str:
    """``"auto"`` (the kernel on CPU when loaded) or ``"portable"`` (``lax.top_k`` always).

    The innermost :func:`selection_mode_override`, else ``$JAXREC_SELECTION``, else ``"auto"``.
    """
    mode = _override[-1] if _override else os.environ.get("JAXREC_SELECTION", "auto")
    if mode not in SELECTION_MODES:
        raise ConfigError("JAXREC_SELECTION", f"must be one of {SELECTION_MODES}, got {mode!r}")
    return mode


@contextlib.contextmanager
def selection_mode_override(mode: str) -> Iterator[None]:
    """Trace :func:`select_slate` calls inside the block with ``mode`` (see :func:`selection_mode`)."""
    if mode not in SELECTION_MODES:
        raise ConfigError("selection_mode", f"must be one of {SELECTION_MODES}, got {mode!r}")
    _override.append(mode)
    try:
        yield
    finally:
        _override.pop()


def cpu_selection_path() -> str:
    """Which path f32 scores take on CPU under the current mode: ``"kernel"`` or ``"lax.top_k"``."""
    return "kernel" if selection_mode() == "auto" and kernel_loaded() else "lax.top_k"


def _portable(scores: jax.Array, mask: jax.Array, slate_size: int) -> jax.Array:
    masked = jnp.where(mask, scores, -jnp.inf)
    return jax.lax.top_k(masked, slate_size)[1].astype(jnp.int32)


def select_slate(scores: jax.Array, mask: jax.Array, slate_size: int) -> jax.Array:
    """The ``slate_size`` highest-scoring allowed items per user, best first: i32[U, K].

    Args:
      scores: f32[U, M] higher is better.
      mask: bool[U, M] allowed items (see :meth:`jaxrec.envs.PlatformEnv.action_mask`).
      slate_size: K (static), at most M.

    Exactly ``lax.top_k(where(mask, scores, -inf), K)``'s indices on every path: ties go to the
    lower item index, -0.0 ranks below 0.0, NaN above +inf (below -inf when negative). When a
    user has fewer than K allowed items the remaining positions hold disallowed items with score
    -inf; the environment does not show dead items, so only history-masked live items can fill
    such a slate.

    >>> scores = jnp.array([[0.1, 0.9, 0.5, 0.7]])
    >>> select_slate(scores, jnp.array([[True, True, False, True]]), 2).tolist()
    [[1, 3]]
    """
    kernel_fits = scores.dtype == jnp.float32 and 0 < slate_size <= scores.shape[-1]
    if not (kernel_fits and cpu_selection_path() == "kernel"):
        return _portable(scores, mask, slate_size)
    # Decided per lowering platform: GPU/TPU programs never see the CPU custom call.
    return jax.lax.platform_dependent(
        scores,
        mask,
        cpu=lambda s, m: select_top_k_kernel(s, m, slate_size),
        default=lambda s, m: _portable(s, m, slate_size),
    )
