"""Factorization machine on field embeddings held in one table.

Every categorical field ``f`` owns a contiguous block of rows of a single embedding table (its field
offset, see :mod:`jaxrec.data.features`), so a sample is ``F`` row ids, one per field. The model is
(Rendle 2010, in the form used by the AAFM paper's public code):

    logit = b + sum_f <w, e_f> + sum_{f<g} <e_f, e_g>,

with the pairwise term computed in O(F d) as ``0.5 * sum_d [(sum_f e_f)^2 - sum_f e_f^2]``.
The first-order term reads the same embeddings (through a shared vector ``w``), so a perturbation of
the embeddings — the adversary of :mod:`jaxrec.models.adversarial` — moves both terms.

The pure functions (:func:`fm_logits_from_embeddings`, :func:`fm_logits`) take the parameter dict
and optional table perturbation so that adversarial training and robustness checks can reuse them
without re-implementing the forward pass.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

Params = dict[str, Any]


def fm_logits_from_embeddings(
    embeddings: jax.Array, linear: jax.Array, bias: jax.Array
) -> jax.Array:
    """FM logits from already-gathered field embeddings.

    Args:
      embeddings: f32[..., F, d], one embedding per field of each sample.
      linear: f32[d], first-order weight vector ``w`` shared by all fields.
      bias: f32[], global bias.

    Returns:
      f32[...], the logits (first + second order).
    """
    summed = embeddings.sum(axis=-2)
    pairwise = 0.5 * (jnp.square(summed) - jnp.square(embeddings).sum(axis=-2)).sum(axis=-1)
    first_order = summed @ linear
    return bias + first_order + pairwise


def fm_logits(
    params: Params, feature_ids: jax.Array, table_delta: jax.Array | None = None
) -> jax.Array:
    """FM logits from a parameter dict, optionally with a perturbed embedding table.

    Args:
      params: ``{"embedding": f32[n_features, d], "linear": f32[d], "bias": f32[]}`` — the
        ``"params"`` collection of :class:`FM`.
      feature_ids: i32[B, F], global row ids (field offset already added).
      table_delta: optional f32[n_features, d] added to the embedding table (adversarial or
        random perturbation).

    Returns:
      f32[B] logits.
    """
    table = params["embedding"]
    if table_delta is not None:
        table = table + table_delta
    return fm_logits_from_embeddings(table[feature_ids], params["linear"], params["bias"])


class FM(nn.Module):
    """Factorization machine over ``n_features`` one-hot rows with ``dim``-dimensional embeddings.

    ``__call__(feature_ids: i32[B, F]) -> f32[B]`` logits. Parameters: ``embedding``
    f32[n_features, dim] (normal, std 0.01), ``linear`` f32[dim] and ``bias`` f32[] (zeros).
    """

    n_features: int
    dim: int
    init_scale: float = 0.01

    @nn.compact
    def __call__(self, feature_ids: jax.Array) -> jax.Array:
        embedding = self.param(
            "embedding", nn.initializers.normal(self.init_scale), (self.n_features, self.dim)
        )
        linear = self.param("linear", nn.initializers.zeros, (self.dim,))
        bias = self.param("bias", nn.initializers.zeros, ())
        return fm_logits(
            {"embedding": embedding, "linear": linear, "bias": bias}, feature_ids.astype(jnp.int32)
        )


def init_fm_params(key: jax.Array, n_features: int, dim: int, n_fields: int = 2) -> Params:
    """Initialise the ``"params"`` collection of ``FM(n_features, dim)`` (a plain dict)."""
    dummy = jnp.zeros((1, n_fields), jnp.int32)
    return dict(FM(n_features, dim).init(key, dummy)["params"])


def bce_with_logits(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Per-sample binary cross-entropy of ``labels`` in {0, 1} under ``sigmoid(logits)``; f32[B]."""
    return jnp.logaddexp(0.0, logits) - labels * logits
