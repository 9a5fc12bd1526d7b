"""FM forward pass against the naive pairwise definition (Rendle 2010)."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from jaxrec.models.fm import FM, fm_logits, init_fm_params

N_FEATURES, DIM, N_FIELDS, BATCH = 12, 5, 4, 7


def naive_logits(table, linear, bias, ids):
    """O(F^2 d) double loop over field pairs, in float64."""
    out = np.zeros(len(ids))
    for b, row in enumerate(ids):
        emb = table[row]
        out[b] = bias + sum(emb[f] @ linear for f in range(len(row)))
        out[b] += sum(emb[f] @ emb[g] for f, g in itertools.combinations(range(len(row)), 2))
    return out


@given(seed=st.integers(0, 2**31 - 1))
def test_forward_equals_naive_pairwise_sum(seed):
    rng = np.random.default_rng(seed)
    params = {
        "embedding": jnp.asarray(rng.normal(size=(N_FEATURES, DIM)), jnp.float32),
        "linear": jnp.asarray(rng.normal(size=DIM), jnp.float32),
        "bias": jnp.float32(rng.normal()),
    }
    ids = rng.integers(0, N_FEATURES, size=(BATCH, N_FIELDS))
    got = jax.jit(fm_logits)(params, jnp.asarray(ids))
    want = naive_logits(
        *(np.asarray(params[k], np.float64) for k in ("embedding", "linear", "bias")), ids
    )
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_module_matches_pure_function_and_delta_is_a_table_shift():
    params = init_fm_params(jax.random.key(0), N_FEATURES, DIM, N_FIELDS)
    params["embedding"] = params["embedding"] * 100.0  # make the second-order term non-negligible
    ids = jnp.arange(BATCH * N_FIELDS).reshape(BATCH, N_FIELDS) % N_FEATURES
    module_out = FM(N_FEATURES, DIM).apply({"params": params}, ids)
    np.testing.assert_allclose(module_out, fm_logits(params, ids), rtol=1e-6)
    delta = jax.random.normal(jax.random.key(1), (N_FEATURES, DIM))
    shifted = {**params, "embedding": params["embedding"] + delta}
    np.testing.assert_allclose(fm_logits(params, ids, delta), fm_logits(shifted, ids), rtol=1e-5)
    assert module_out.shape == (BATCH,)
