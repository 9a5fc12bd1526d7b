"""Adversarial training of factorization machines: FM, AdvFM, AAFM and D-AAFM, several seeds at once.

All four share the FM of :mod:`jaxrec.models.fm` and one training loop:

- **FM**: binary cross-entropy, Adam with coupled L2 (the public code's defaults: lr 5e-3, L2 1e-3,
  dim 64, batch 512).
- **AdvFM** (FGSM on embeddings, Goodfellow et al. 2015; He et al. 2018 for recommenders):
  ``delta_v = eps * g_v / ||g_v||`` with ``g = dL_clean/dE`` the gradient w.r.t. the embedding table,
  normalised per feature value ``v`` (default) or, as the public code does, per embedding dimension
  across the whole table (``normalise="dimension"``). Loss ``L_clean + adv_weight * L(E + delta)``.
- **AAFM**: the strength is learned per field ``i`` and scaled by the value's combination variety,
  ``eps_v = softplus(omega_i / beta_v)``, and sample ``k``'s adversarial loss is weighted by
  ``lambda_k`` in ``[1, t]``, min-max scaled per batch from ``-prod_f alpha_f`` (rare combinations
  weigh more).
- **D-AAFM**: AAFM plus ``a / (tau ||omega||)`` with ``tau`` the 1-based epoch, a barrier that keeps
  ``omega`` from collapsing to 0 early. Its gradient reaches ``omega`` (the public code's version
  does not: it has zero gradient).

The FGSM direction is the (already computed) gradient of the clean loss, held constant
(``stop_gradient``), so ``omega`` learns through ``d L_adv / d eps``. Training: ``clean_epochs``
clean epochs, then clean + adversarial on every batch; an epoch is one ``lax.scan`` over shuffled
batches (the remainder of a shuffle is dropped); ``S`` seeds are a ``vmap`` of that epoch, so all seeds
are one compiled program. Early stopping keeps, per seed, the parameters of its best validation-AUC
epoch and stops a seed after ``patience`` epochs without improvement; a seed's result is the same
alone or batched with others.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxrec.data.features import FeatureDataset, FeatureSplit, fairness_metrics, log_fairness_score
from jaxrec.errors import ConfigError
from jaxrec.metrics.accuracy import log_loss
from jaxrec.models.fm import bce_with_logits, fm_logits, init_fm_params

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


def model_config(name: str, **overrides: Any) -> AdversaryConfig:
    """The preset of ``name`` in ``fm | advfm | aafm | daafm``, with field overrides.

    Presets: AdvFM eps 0.1; AAFM eps scale 0.1, ``omega`` 1, ``t`` = :data:`DEFAULT_T`; D-AAFM as AAFM
    with ``a = 10``. (eps 0.5 and above stalled training on the synthetic data at dim 16.)
    """
    presets = {
        "fm": AdversaryConfig("fm"),
        "advfm": AdversaryConfig("advfm", adversarial=True, eps=0.1),
        "aafm": AdversaryConfig(
            "aafm", adversarial=True, eps=0.1, learn_eps=True, reweight_t=DEFAULT_T
        ),
        "daafm": AdversaryConfig(
            "daafm", adversarial=True, eps=0.1, learn_eps=True, reweight_t=DEFAULT_T, decay_a=10.0
        ),
    }
    if name not in presets:
        raise ConfigError("model", f"expected one of {', '.join(MODEL_NAMES)}, got {name!r}")
    config = dataclasses.replace(presets[name], **overrides)
    if config.normalise not in ("value", "dimension"):
        raise ConfigError("normalise", f"expected 'value' or 'dimension', got {config.normalise!r}")
    if config.reweight_t is not None and config.reweight_t < 1:
        raise ConfigError("t", f"the re-weighting scale must be >= 1, got {config.reweight_t}")
    return config


@dataclass(frozen=True)
class FMTrainConfig:
    """Optimisation settings shared by all models (public-code defaults)."""

    dim: int = 64
    batch_size: int = 512
    learning_rate: float = 5e-3
    l2: float = 1e-3
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


def perturbation_scale(omega: jax.Array, tables: FeatureTables) -> jax.Array:
    """AAFM's per-row strength ``eps_v = softplus(omega_i / beta_v)``, f32[n_features]; unseen
    values (beta 0) are treated as beta 1."""
    return jax.nn.softplus(omega[tables.field] / jnp.maximum(tables.beta, 1.0))


def sample_weights(rarity: jax.Array, t: float | None) -> jax.Array:
    """AAFM's weights in ``[1, t]``, min-max scaled within the batch from ``rarity`` f32[B]."""
    if t is None:
        return jnp.ones_like(rarity)
    low, high = rarity.min(), rarity.max()
    scaled = (rarity - low) / jnp.where(high > low, high - low, 1.0)
    return 1.0 + (t - 1.0) * scaled


def decay_regulariser(omega: jax.Array, a: float, epoch: jax.Array) -> jax.Array:
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
) -> jax.Array:
    """Weighted loss at the perturbed embeddings, plus D-AAFM's regulariser; a scalar.

    ``direction`` f32[n_features, d] is the unit FGSM direction (treated as a constant).
    """
    if adversary.learn_eps:
        eps = adversary.eps * perturbation_scale(params["omega"], tables)[:, None]
    else:
        eps = adversary.eps
    delta = eps * jax.lax.stop_gradient(direction)
    losses = bce_with_logits(fm_logits(params["fm"], feature_ids, delta), labels)
    weights = sample_weights(rarity, adversary.reweight_t)
    loss = adversary.adv_weight * jnp.mean(weights * losses)
    if adversary.decay_a > 0:
        loss = loss + decay_regulariser(params["omega"], adversary.decay_a, epoch)
    return loss


def clean_loss(params: Params, feature_ids: jax.Array, labels: jax.Array) -> jax.Array:
    return jnp.mean(bce_with_logits(fm_logits(params["fm"], feature_ids), labels))


# --------------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------------


def make_optimizer(config: FMTrainConfig) -> optax.GradientTransformation:
    """Adam with coupled L2 on the FM parameters (as ``torch.optim.Adam(weight_decay=...)``);
    ``omega`` is not decayed."""
    fm_only = lambda params: {key: key == "fm" for key in params}  # noqa: E731
    return optax.chain(
        optax.masked(optax.add_decayed_weights(config.l2), fm_only),
        optax.adam(config.learning_rate),
    )


def init_params(
    key: jax.Array, dataset: FeatureDataset, config: FMTrainConfig, adversary: AdversaryConfig
) -> Params:
    params: Params = {"fm": init_fm_params(key, dataset.n_features, config.dim, dataset.n_fields)}
    if adversary.learn_eps:
        params["omega"] = jnp.full((dataset.n_fields,), adversary.omega_init, jnp.float32)
    return params


def train_step(
    params: Params,
    opt_state: Any,
    feature_ids: jax.Array,
    labels: jax.Array,
    rarity: jax.Array,
    tables: FeatureTables,
    epoch: jax.Array,
    optimizer: optax.GradientTransformation,
    adversary: AdversaryConfig,
    adversarial: bool,
) -> tuple[Params, Any, jax.Array]:
    """One optimiser step on a batch; returns new params, optimiser state and the total loss."""
    loss, grads = jax.value_and_grad(clean_loss)(params, feature_ids, labels)
    if adversarial:
        direction = fgsm_direction(grads["fm"]["embedding"], adversary.normalise)
        adv, adv_grads = jax.value_and_grad(adversarial_loss)(
            params, direction, feature_ids, labels, rarity, tables, adversary, epoch
        )
        loss = loss + adv
        grads = jax.tree.map(jnp.add, grads, adv_grads)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, loss


@functools.partial(jax.jit, static_argnames=("config", "adversary", "adversarial"))
def train_epoch(
    params: Params,
    opt_state: Any,
    keys: jax.Array,
    train_ids: jax.Array,
    train_labels: jax.Array,
    tables: FeatureTables,
    epoch: jax.Array,
    config: FMTrainConfig,
    adversary: AdversaryConfig,
    adversarial: bool,
) -> tuple[Params, Any, jax.Array]:
    """One epoch for ``S`` seeds at once (leading axis of ``params``, ``opt_state``, ``keys``).

    Returns the new params and optimiser states and the mean loss per seed f32[S].
    """
    optimizer = make_optimizer(config)
    n_batches = train_labels.shape[0] // config.batch_size

    def one_seed(params, opt_state, key):
        order = jax.random.permutation(key, train_labels.shape[0])
        batches = order[: n_batches * config.batch_size].reshape(n_batches, config.batch_size)

        def body(carry, batch):
            params, opt_state = carry
            params, opt_state, loss = train_step(
                params, opt_state, train_ids[batch], train_labels[batch], tables.rarity[batch],
                tables, epoch, optimizer, adversary, adversarial,
            )  # fmt: skip
            return (params, opt_state), loss

        (params, opt_state), losses = jax.lax.scan(body, (params, opt_state), batches)
        return params, opt_state, losses.mean()

    return jax.vmap(one_seed)(params, opt_state, keys)


@jax.jit
def predict_logits(params: Params, feature_ids: jax.Array) -> jax.Array:
    """Logits f32[S, N] of stacked parameters (leading seed axis) on ``feature_ids`` i32[N, F]."""
    return jax.vmap(lambda p: fm_logits(p["fm"], feature_ids))(params)


@jax.jit
def _split_metrics(
    params: Params, feature_ids: jax.Array, labels: jax.Array, ranking_key: jax.Array
) -> dict[str, jax.Array]:
    logits = predict_logits(params, feature_ids)
    metrics = fairness_metrics(labels, logits, ranking_key)
    metrics["log_loss"] = log_loss(labels, jax.nn.sigmoid(logits))
    return metrics


def evaluate(params: Params, dataset: FeatureDataset, split: str = "test") -> dict[str, np.ndarray]:
    """AUC, log loss, bucket AUCs (rarest first), STD and EFGD per seed on one split (NumPy arrays)."""
    data: FeatureSplit = getattr(dataset, split)
    key = log_fairness_score(data.feature_ids, dataset.alpha, dataset.beta)
    metrics = _split_metrics(params, jnp.asarray(data.feature_ids), jnp.asarray(data.labels), key)
    return {name: np.asarray(value) for name, value in metrics.items()}


@dataclass
class TrainResult:
    """Best-validation parameters (leading seed axis) and the per-epoch history.

    ``history`` maps ``"val_auc"``, ``"val_rarest_bucket_auc"``, ``"train_loss"`` (each a list of f32[S]
    per epoch) and, for learned strengths, ``"omega"`` (f32[S, F] per epoch). A seed that already
    stopped keeps training in the batch but its ``params`` stay at its best epoch.
    """

    params: Params
    best_epoch: np.ndarray
    best_val_auc: np.ndarray
    history: dict[str, list[np.ndarray]] = field(default_factory=dict)
    adversary: AdversaryConfig | None = None


def select_seeds(mask: jax.Array, new: Any, old: Any) -> Any:
    """Per seed (leading axis), take ``new`` where ``mask`` bool[S] else ``old``."""
    return jax.tree.map(
        lambda a, b: jnp.where(mask.reshape((-1,) + (1,) * (a.ndim - 1)), a, b), new, old
    )


def train(
    dataset: FeatureDataset,
    adversary: AdversaryConfig | str,
    config: FMTrainConfig = FMTrainConfig(),
    seeds: Sequence[int] = (0,),
    progress: Any = None,
) -> TrainResult:
    """Train one model for every seed in ``seeds`` in one compiled program per epoch kind.

    Early stopping runs on the host between compiled epochs, on validation AUC.
    ``progress``: optional callable ``(epoch, val_auc f32[S]) -> None`` (e.g. a tqdm update).
    """
    if isinstance(adversary, str):
        adversary = model_config(adversary)
    config.validate(len(dataset.train))
    keys = jax.vmap(lambda s: jax.random.split(jax.random.key(s)))(jnp.asarray(seeds))
    init_keys, shuffle_keys = keys[:, 0], keys[:, 1]
    params = jax.vmap(lambda k: init_params(k, dataset, config, adversary))(init_keys)
    opt_state = jax.vmap(make_optimizer(config).init)(params)
    tables = feature_tables(dataset)
    train_ids, train_labels = (
        jnp.asarray(dataset.train.feature_ids),
        jnp.asarray(dataset.train.labels),
    )

    n_seeds = len(seeds)
    best_params = params
    best_auc = np.full(n_seeds, -np.inf)
    best_epoch = np.zeros(n_seeds, np.int64)
    history: dict[str, list[np.ndarray]] = {
        "val_auc": [],
        "val_rarest_bucket_auc": [],
        "train_loss": [],
    }
    if adversary.learn_eps:
        history["omega"] = []
    for epoch in range(1, config.max_epochs + 1):
        epoch_keys = jax.vmap(jax.random.fold_in, in_axes=(0, None))(shuffle_keys, epoch)
        adversarial = adversary.adversarial and epoch > config.clean_epochs
        params, opt_state, loss = train_epoch(
            params, opt_state, epoch_keys, train_ids, train_labels, tables,
            jnp.float32(epoch), config, adversary, adversarial,
        )  # fmt: skip
        metrics = evaluate(params, dataset, "valid")
        val_auc = metrics["auc"]
        improved = val_auc > best_auc
        best_auc = np.where(improved, val_auc, best_auc)
        best_epoch = np.where(improved, epoch, best_epoch)
        best_params = select_seeds(jnp.asarray(improved), params, best_params)
        history["val_auc"].append(val_auc)
        history["val_rarest_bucket_auc"].append(metrics["bucket_auc"][:, 0])
        history["train_loss"].append(np.asarray(loss))
        if adversary.learn_eps:
            history["omega"].append(np.asarray(params["omega"]))
        if progress is not None:
            progress(epoch, val_auc)
        if np.all(epoch - best_epoch >= config.patience):
            break
    return TrainResult(best_params, best_epoch, best_auc, history, adversary)


def perturbed_auc(
    params: Params, dataset: FeatureDataset, norm: float, key: jax.Array, split: str = "test"
) -> np.ndarray:
    """AUC per seed after adding random noise of L2 norm ``norm`` to every embedding row
    (independent Gaussian directions; the robustness check of the AAFM paper)."""
    data: FeatureSplit = getattr(dataset, split)
    table = params["fm"]["embedding"]
    noise = jax.random.normal(key, table.shape[1:])
    noise = norm * noise / jnp.linalg.norm(noise, axis=-1, keepdims=True)
    noisy = {**params, "fm": {**params["fm"], "embedding": table + noise}}
    key_rank = log_fairness_score(data.feature_ids, dataset.alpha, dataset.beta)
    metrics = _split_metrics(
        noisy, jnp.asarray(data.feature_ids), jnp.asarray(data.labels), key_rank
    )
    return metrics["auc"]


# the name before the three trainer configs got distinct names; kept for existing callers
TrainConfig = FMTrainConfig
