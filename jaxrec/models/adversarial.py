"""Adversarial training of factorization machines: FM, AdvFM, AAFM and D-AAFM, several seeds at once.

All four share the FM of :mod:`jaxrec.models.fm` and one training loop:

- **FM**: binary cross-entropy, Adam with coupled L2 (the public code's defaults: lr 5e-3, L2 1e-3,
  dim 64, batch 512).
- **AdvFM** (FGSM on embeddings, Goodfellow et al. 2015; He et al. 2018 for recommenders):
  ``delta_v = eps * g_v / ||g_v||`` with ``g = dL_clean/dE`` the gradient w.r.t. the embedding table,
  normalised per feature value ``v`` (default) or, as the public code does, per embedding dimension
  across the whole table (``normalise="dimension"``). Loss ``L_clean + adv_weight * L(E + delta)``.
- **AAFM**: the strength is learned per field ``i`` and scaled by the value's combination variety,
  ``eps_v = eps * softplus(omega_i / b_v)`` with ``b_v = beta_v / mean_{u in field i} beta_u`` (see
  :func:`perturbation_scale`), and sample ``k``'s adversarial loss is weighted by ``lambda_k`` in
  ``[1, t]``, min-max scaled per batch from ``-prod_f alpha_f`` (rare combinations weigh more).
- **D-AAFM**: AAFM plus ``a / (tau ||omega||)`` with ``tau`` the 1-based epoch, a barrier that keeps
  ``omega`` from collapsing to 0 early. Its gradient reaches ``omega`` (the public code's version
  does not: it has zero gradient).

The FGSM direction is the (already computed) gradient of the clean loss, held constant
(``stop_gradient``), so ``omega`` learns through ``d L_adv / d eps``. The training loop (epochs,
evaluation, early stopping) is :mod:`jaxrec.models.fm_training`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

import flax.struct
import jax
import jax.numpy as jnp

from jaxrec.data.features import FeatureDataset
from jaxrec.errors import ConfigError
from jaxrec.models.fm import bce_with_logits, fm_logits

Params = dict[str, Any]
MODEL_NAMES = ("fm", "advfm", "aafm", "daafm")
# The public code uses t = 100; with its per-batch min-max almost every sample then weighs ~t, which
# on jaxrec's synthetic data over-weights the adversary (STD 0.049 vs 0.042 at t = 10, FM 0.051).
DEFAULT_T = 10.0


@dataclass(frozen=True)
class AdversaryConfig:
    """How (and whether) a model is trained adversarially. Hashable: it is static under ``jit``.

    Attributes:
      name: label in tables.
      adversarial: False for plain FM.
      eps: perturbation norm (AdvFM); with ``learn_eps`` a scale on AAFM's strength,
        ``eps_v = eps * softplus(omega_i / beta_v)`` (``eps = 1`` is the paper's formula).
      learn_eps: learn the strength per field as AAFM does.
      omega_init: initial ``omega_i`` (all fields).
      normalise: "value" (per feature value) or "dimension" (per embedding dimension, public code).
      adv_weight: weight of the adversarial loss (multiplies the per-sample weights).
      reweight_t: AAFM's upper end ``t`` of the sample weights in ``[1, t]``; None = all weights 1.
      decay_a: D-AAFM's regulariser strength ``a``; 0 = none.
      beta_scale: "field" divides each value's combination variety by its field's mean (default,
        so ``omega`` moves ``eps`` per value), "raw" uses beta as counted (the paper's formula read
        literally: with beta in the hundreds ``omega / beta ~ 0`` and ``omega`` is inert).
    """

    name: str = "fm"
    adversarial: bool = False
    eps: float = 0.5
    learn_eps: bool = False
    omega_init: float = 1.0
    normalise: Literal["value", "dimension"] = "value"
    adv_weight: float = 1.0
    reweight_t: float | None = None
    decay_a: float = 0.0
    beta_scale: Literal["field", "raw"] = "field"


def model_config(name: str, **overrides: Any) -> AdversaryConfig:
    """The preset of ``name`` in ``fm | advfm | aafm | daafm``, with field overrides.

    Presets: AdvFM eps 0.1; AAFM eps scale 0.05, ``omega`` 1, ``t`` = :data:`DEFAULT_T`; D-AAFM as
    AAFM with ``a = 10``. (eps 0.5 and above stalled training on the synthetic data at dim 16; with the
    field-relative beta a typical value's ``softplus(omega / b_v)`` is ~1.3 at ``omega = 1``, twice
    the raw formula's ``ln 2``, hence the AAFM scale 0.05.)
    """
    presets = {
        "fm": AdversaryConfig("fm"),
        "advfm": AdversaryConfig("advfm", adversarial=True, eps=0.1),
        "aafm": AdversaryConfig(
            "aafm", adversarial=True, eps=0.05, learn_eps=True, reweight_t=DEFAULT_T
        ),
        "daafm": AdversaryConfig(
            "daafm", adversarial=True, eps=0.05, learn_eps=True, reweight_t=DEFAULT_T, decay_a=10.0
        ),
    }
    if name not in presets:
        raise ConfigError("model", f"expected one of {', '.join(MODEL_NAMES)}, got {name!r}")
    config = dataclasses.replace(presets[name], **overrides)
    if config.normalise not in ("value", "dimension"):
        raise ConfigError("normalise", f"expected 'value' or 'dimension', got {config.normalise!r}")
    if config.beta_scale not in ("field", "raw"):
        raise ConfigError("beta_scale", f"expected 'field' or 'raw', got {config.beta_scale!r}")
    if config.reweight_t is not None and config.reweight_t < 1:
        raise ConfigError("t", f"the re-weighting scale must be >= 1, got {config.reweight_t}")
    return config


@dataclass(frozen=True)
class FMTrainConfig:
    """Optimisation settings shared by all models (the public code's, but L2 1e-5: its 1e-3 held FM
    under the popularity baseline on MovieLens-100K, see the README)."""

    dim: int = 64
    batch_size: int = 512
    learning_rate: float = 5e-3
    l2: float = 1e-5
    max_epochs: int = 30
    patience: int = 3
    clean_epochs: int = 1

    def validate(self, n_train: int) -> None:
        for name in ("dim", "batch_size", "max_epochs", "patience"):
            if getattr(self, name) < 1:
                raise ConfigError(name, f"must be >= 1, got {getattr(self, name)}")
        if self.batch_size > n_train:
            raise ConfigError(
                "batch_size", f"{self.batch_size} exceeds the {n_train} training samples"
            )


@flax.struct.dataclass
class Hyper:
    """The traced hyper-parameters of one run (scalars) or of ``R`` runs (f32[R] each).

    ``reweight_t`` 1 means equal sample weights; ``decay_a`` 0 means no D-AAFM regulariser; ``eps``
    is unused by plain FM.
    """

    learning_rate: jax.Array
    l2: jax.Array
    eps: jax.Array
    reweight_t: jax.Array
    decay_a: jax.Array


def hyper_of(config: FMTrainConfig, adversary: AdversaryConfig) -> Hyper:
    """The scalar :class:`Hyper` of a training config and a model preset."""
    t = 1.0 if adversary.reweight_t is None else adversary.reweight_t
    values = (config.learning_rate, config.l2, adversary.eps, t, adversary.decay_a)
    return Hyper(*(jnp.float32(v) for v in values))


@flax.struct.dataclass
class FeatureTables:
    """Per-row and per-sample arrays the adversary needs (a pytree).

    ``beta`` f32[n_features], ``field`` i32[n_features] (field of each row), ``rarity`` f32[N_train]
    = ``-prod_f alpha_f`` per training sample.
    """

    beta: jax.Array
    field: jax.Array
    rarity: jax.Array


def feature_tables(dataset: FeatureDataset) -> FeatureTables:
    alpha = jnp.asarray(dataset.alpha)
    return FeatureTables(
        beta=jnp.asarray(dataset.beta),
        field=jnp.asarray(dataset.field_of_feature),
        rarity=-jnp.prod(alpha[jnp.asarray(dataset.train.feature_ids)], axis=-1),
    )


# --------------------------------------------------------------------------------------------------
# The adversary
# --------------------------------------------------------------------------------------------------


def fgsm_direction(grad_table: jax.Array, normalise: str = "value") -> jax.Array:
    """Unit FGSM direction from the loss gradient w.r.t. the table, f32[n_features, d].

    ``"value"``: each row scaled to norm 1 (rows with zero gradient — values absent from the batch —
    stay 0). ``"dimension"``: each column scaled to norm 1 over the whole table (public code).
    """
    axis = 1 if normalise == "value" else 0
    norm = jnp.linalg.norm(grad_table, axis=axis, keepdims=True)
    return grad_table / jnp.where(norm > 0, norm, 1.0)


# Floor of the field-relative combination variety: the rarest values get at most softplus(4 omega).
MIN_RELATIVE_BETA = 0.25


def perturbation_scale(
    omega: jax.Array, tables: FeatureTables, beta_scale: str = "field"
) -> jax.Array:
    """AAFM's per-row strength ``softplus(omega_i / b_v)``, f32[n_features].

    ``"field"``: ``b_v = max(beta_v / mean beta of the seen values of field i, 0.25)``. The paper's
    ``omega_i / beta_v`` divides by counts in the hundreds (ML-100K), where ``softplus`` is flat at
    ``ln 2`` for every value and ``omega`` cannot act; relative to its field's mean, ``b_v`` is ~1
    for a typical value, so ``omega`` moves the strength of every value, and still more for the
    values with few combinations (``omega > 0``: stronger perturbations on rare values, the paper's
    intent). ``"raw"``: ``b_v = max(beta_v, 1)``, the formula read literally.
    """
    beta = tables.beta
    if beta_scale == "raw":
        return jax.nn.softplus(omega[tables.field] / jnp.maximum(beta, 1.0))
    n_fields = omega.shape[-1]
    total = jax.ops.segment_sum(beta, tables.field, n_fields)
    seen = jax.ops.segment_sum((beta > 0).astype(beta.dtype), tables.field, n_fields)
    field_mean = total / jnp.maximum(seen, 1.0)
    relative = beta / jnp.maximum(field_mean, 1e-12)[tables.field]
    return jax.nn.softplus(omega[tables.field] / jnp.maximum(relative, MIN_RELATIVE_BETA))


def sample_weights(rarity: jax.Array, t: jax.Array | float | None) -> jax.Array:
    """AAFM's weights in ``[1, t]``, min-max scaled within the batch from ``rarity`` f32[B];
    ``t`` None or 1 gives equal weights."""
    if t is None:
        return jnp.ones_like(rarity)
    low, high = rarity.min(), rarity.max()
    scaled = (rarity - low) / jnp.where(high > low, high - low, 1.0)
    return 1.0 + (t - 1.0) * scaled


def decay_regulariser(omega: jax.Array, a: jax.Array | float, epoch: jax.Array) -> jax.Array:
    """D-AAFM's ``a / (tau ||omega||)``, ``tau`` = 1-based epoch; differentiable in ``omega``."""
    return a / (epoch * jnp.sqrt(jnp.sum(jnp.square(omega)) + 1e-12))


def adversarial_loss(
    params: Params,
    direction: jax.Array,
    feature_ids: jax.Array,
    labels: jax.Array,
    rarity: jax.Array,
    tables: FeatureTables,
    adversary: AdversaryConfig,
    epoch: jax.Array,
    hyper: Hyper | None = None,
) -> jax.Array:
    """Weighted loss at the perturbed embeddings, plus D-AAFM's regulariser; a scalar.

    ``direction`` f32[n_features, d] is the unit FGSM direction (treated as a constant); ``hyper``
    (default: the adversary's own values) supplies eps, t and a.
    """
    if hyper is None:
        hyper = hyper_of(FMTrainConfig(), adversary)
    eps = hyper.eps
    if adversary.learn_eps:
        eps = eps * perturbation_scale(params["omega"], tables, adversary.beta_scale)[:, None]
    delta = eps * jax.lax.stop_gradient(direction)
    losses = bce_with_logits(fm_logits(params["fm"], feature_ids, delta), labels)
    weights = sample_weights(rarity, hyper.reweight_t)
    loss = adversary.adv_weight * jnp.mean(weights * losses)
    if adversary.learn_eps:
        loss = loss + decay_regulariser(params["omega"], hyper.decay_a, epoch)
    return loss


def clean_loss(params: Params, feature_ids: jax.Array, labels: jax.Array) -> jax.Array:
    return jnp.mean(bce_with_logits(fm_logits(params["fm"], feature_ids), labels))


# the name before the three trainer configs got distinct names; kept for existing callers
TrainConfig = FMTrainConfig
