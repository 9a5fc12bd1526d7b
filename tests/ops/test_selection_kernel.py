"""The C++ selection kernel: built extension loads, and slates match ``lax.top_k`` exactly."""

from __future__ import annotations

import importlib.util

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from jaxrec.errors import ConfigError
from jaxrec.ops.selection import (
    cpu_selection_path,
    select_slate,
    selection_mode,
    selection_mode_override,
)
from jaxrec.ops.selection_ffi import TARGET, kernel_loaded, kernel_status

BUILT = importlib.util.find_spec("jaxrec.ops._selection_kernel") is not None
needs_kernel = pytest.mark.skipif(
    not kernel_loaded(), reason=f"C++ selection kernel not available: {kernel_status()}"
)


def top_k_reference(scores, mask, k):
    """The specification: ``lax.top_k`` on the masked scores."""
    return np.asarray(jax.lax.top_k(jnp.where(mask, scores, -jnp.inf), k)[1])


def jitted_slate(k):
    return jax.jit(lambda s, m: select_slate(s, m, k))


# Ties, signed zeros, infinities and both NaN signs, mixed with ordinary values.
SPECIAL = np.array([0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan, -np.nan], np.float32)


@st.composite
def selection_cases(draw):
    rows = draw(st.integers(1, 9))
    items = draw(st.integers(1, 120))
    k = draw(st.integers(1, items))
    seed = draw(st.integers(0, 2**32 - 1))
    kind = draw(st.sampled_from(["random", "tied", "special"]))
    mask_rate = draw(st.sampled_from([0.0, 0.3, 0.9, 1.0]))
    rng = np.random.default_rng(seed)
    if kind == "random":
        scores = rng.normal(size=(rows, items)).astype(np.float32)
    elif kind == "tied":
        scores = rng.integers(0, 3, size=(rows, items)).astype(np.float32)
    else:
        scores = np.where(
            rng.random((rows, items)) < 0.5,
            rng.choice(SPECIAL, size=(rows, items)),
            rng.normal(size=(rows, items)).astype(np.float32),
        )
    mask = rng.random((rows, items)) < mask_rate
    return scores, mask, k


@needs_kernel
@given(selection_cases())
def test_kernel_slates_equal_lax_top_k(case):
    scores, mask, k = case
    got = jitted_slate(k)(jnp.asarray(scores), jnp.asarray(mask))
    np.testing.assert_array_equal(np.asarray(got), top_k_reference(scores, mask, k))


@needs_kernel
@pytest.mark.parametrize("k", [1, 10, 32, 33, 299, 300])
def test_kernel_matches_at_every_size_regime(k):
    # K <= 32 takes the two-pass scan, above it the partial sort; K = M selects everything.
    rng = np.random.default_rng(k)
    scores = rng.normal(size=(64, 300)).astype(np.float32)
    scores[:, ::7] = scores[:, 3:4]  # ties inside and across the 32-item blocks
    mask = rng.random((64, 300)) < 0.8
    mask[5] = False  # an all-masked row: the K lowest indices, all -inf
    got = jitted_slate(k)(jnp.asarray(scores), jnp.asarray(mask))
    np.testing.assert_array_equal(np.asarray(got), top_k_reference(scores, mask, k))


@needs_kernel
def test_kernel_under_vmap_over_worlds_and_with_a_shared_mask():
    rng = np.random.default_rng(0)
    scores = jnp.asarray(rng.normal(size=(3, 50, 80)).astype(np.float32))
    masks = jnp.asarray(rng.random((3, 50, 80)) < 0.7)
    batched = jax.jit(jax.vmap(lambda s, m: select_slate(s, m, 5)))(scores, masks)
    shared = jax.jit(jax.vmap(lambda s: select_slate(s, masks[0], 5)))(scores)
    for world in range(3):
        np.testing.assert_array_equal(
            batched[world], top_k_reference(scores[world], masks[world], 5)
        )
        np.testing.assert_array_equal(shared[world], top_k_reference(scores[world], masks[0], 5))


@needs_kernel
def test_gradients_flow_around_the_kernel_as_around_top_k():
    rng = np.random.default_rng(1)
    scores = jnp.asarray(rng.normal(size=(6, 40)).astype(np.float32))
    mask = jnp.asarray(rng.random((6, 40)) < 0.8)

    def gain(s):
        slate = select_slate(s, mask, 4)
        return jnp.sum(jnp.take_along_axis(s, slate, axis=1) ** 2)

    got = jax.grad(gain)(scores)
    with selection_mode_override("portable"):
        expected = jax.grad(gain)(scores)
    np.testing.assert_array_equal(got, expected)


@needs_kernel
def test_dispatch_puts_the_kernel_only_in_cpu_programs_and_portable_mode_removes_it():
    spec = (jax.ShapeDtypeStruct((4, 20), jnp.float32), jax.ShapeDtypeStruct((4, 20), bool))
    assert cpu_selection_path() == "kernel"
    assert TARGET in jitted_slate(3).lower(*spec).as_text()
    gpu = jax.export.export(jitted_slate(3), platforms=("cuda",))(*spec).mlir_module()
    assert TARGET not in gpu and "top_k" in gpu
    with selection_mode_override("portable"):
        assert cpu_selection_path() == "lax.top_k"
        assert TARGET not in jitted_slate(3).lower(*spec).as_text()
    # Scores the kernel does not take (float64 is not enabled; bfloat16 is) use lax.top_k.
    bf16 = jax.ShapeDtypeStruct((4, 20), jnp.bfloat16)
    assert TARGET not in jitted_slate(3).lower(bf16, spec[1]).as_text()


def test_built_extension_loads_and_registers():
    if not BUILT:
        pytest.skip("the optional C++ kernel was not built (no compiler or no jaxlib headers)")
    assert kernel_status() == "loaded"


def test_selection_mode_comes_from_the_environment_and_bad_values_are_named(monkeypatch):
    monkeypatch.setenv("JAXREC_SELECTION", "portable")
    assert selection_mode() == "portable"
    assert cpu_selection_path() == "lax.top_k"
    monkeypatch.setenv("JAXREC_SELECTION", "fast")
    with pytest.raises(ConfigError, match="JAXREC_SELECTION"):
        selection_mode()
    with pytest.raises(ConfigError, match="selection_mode"), selection_mode_override("kernel"):
        pass
