"""The C++ selection kernel (``selection_kernel.cc``) as a JAX function, through ``jax.ffi``.

The kernel is an optional extension built with the package (see ``setup.py``). :func:`kernel_status`
says whether it loaded and registered with XLA:CPU, and if not, why; callers fall back to
``lax.top_k`` then (:func:`jaxrec.ops.selection.select_slate` does).
"""

from __future__ import annotations

import functools
import importlib

import jax
import jax.numpy as jnp

TARGET = "jaxrec_select_top_k"


@functools.cache
def kernel_status() -> str:
    """``"loaded"`` once the kernel is registered with XLA:CPU, else the reason it is not.

    Imports and registers on first call (registration is per process, so it happens once).
    """
    try:
        module = importlib.import_module("jaxrec.ops._selection_kernel")
    except ImportError as error:
        return f"not built ({error})"
    try:
        for name, capsule in module.registrations().items():
            jax.ffi.register_ffi_target(name, capsule, platform="cpu")
    except Exception as error:  # e.g. built against an FFI version this jaxlib rejects
        return f"registration failed ({error})"
    return "loaded"


def kernel_loaded() -> bool:
    """Whether :func:`select_top_k_kernel` can run on CPU in this process."""
    return kernel_status() == "loaded"


def select_top_k_kernel(scores: jax.Array, mask: jax.Array, k: int) -> jax.Array:
    """Indices of ``lax.top_k(where(mask, scores, -inf), k)`` on XLA:CPU: i32[..., k].

    Args:
      scores: f32[..., M].
      mask: bool[..., M] (broadcastable to ``scores``).
      k: static, ``0 < k <= M``.

    CPU only; call it only when :func:`kernel_loaded`. Under ``vmap`` every batched axis becomes
    a leading axis of both operands (``broadcast_all``), which the kernel reads as more rows.
    Integer outputs carry no gradient, so the scores' tangents are cut here.
    """
    scores = jax.lax.stop_gradient(scores)
    mask = jnp.broadcast_to(mask, scores.shape)
    out = jax.ShapeDtypeStruct((*scores.shape[:-1], k), jnp.int32)
    call = jax.ffi.ffi_call(TARGET, out, vmap_method="broadcast_all")
    return call(scores, mask)
