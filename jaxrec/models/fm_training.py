"""Training of the FM family (FM, AdvFM, AAFM, D-AAFM; :mod:`jaxrec.models.adversarial`), several
seeds at once: optimiser, epochs, evaluation and early stopping.

Training: ``clean_epochs`` clean epochs, then clean + adversarial on every batch; an epoch is one
``lax.scan`` over shuffled batches (the remainder of a shuffle is dropped); ``S`` seeds are a ``vmap``
of that epoch, so all seeds are one compiled program. The continuous hyper-parameters (learning rate,
L2, eps, t, a) are traced arrays (:class:`~jaxrec.models.adversarial.Hyper`), one per run, so a
tuning grid that shares the embedding dimension trains as one ``vmap`` over (configuration x seed)
runs. Early stopping keeps, per run, the parameters of its best validation-AUC epoch and stops a run
after ``patience`` epochs without improvement; a run's result is the same alone or batched with
others.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxrec.data.features import FeatureDataset, FeatureSplit, fairness_metrics, log_fairness_score
from jaxrec.errors import ConfigError
from jaxrec.metrics.accuracy import log_loss
from jaxrec.models.adversarial import (
    AdversaryConfig,
    FeatureTables,
    FMTrainConfig,
    Hyper,
    Params,
    adversarial_loss,
    clean_loss,
    feature_tables,
    fgsm_direction,
    hyper_of,
    model_config,
)
from jaxrec.models.fm import fm_logits, init_fm_params


def make_optimizer(
    config: FMTrainConfig, hyper: Hyper | None = None
) -> optax.GradientTransformation:
    """Adam with coupled L2 on the FM parameters (as ``torch.optim.Adam(weight_decay=...)``);
    ``omega`` is not decayed. ``hyper`` (traced) overrides the config's learning rate and L2."""
    lr, l2 = (config.learning_rate, config.l2) if hyper is None else (hyper.learning_rate, hyper.l2)
    fm_only = lambda params: {key: key == "fm" for key in params}  # noqa: E731
    return optax.chain(optax.masked(optax.add_decayed_weights(l2), fm_only), optax.adam(lr))


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
    hyper: Hyper | None = None,
) -> tuple[Params, Any, jax.Array]:
    """One optimiser step on a batch; returns new params, optimiser state and the total loss."""
    loss, grads = jax.value_and_grad(clean_loss)(params, feature_ids, labels)
    if adversarial:
        direction = fgsm_direction(grads["fm"]["embedding"], adversary.normalise)
        adv, adv_grads = jax.value_and_grad(adversarial_loss)(
            params, direction, feature_ids, labels, rarity, tables, adversary, epoch, hyper
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
    hypers: Hyper | None = None,
) -> tuple[Params, Any, jax.Array]:
    """One epoch for ``R`` runs at once (leading axis of ``params``, ``opt_state``, ``keys`` and of
    ``hypers``; default: every run uses the config's and the adversary's values).

    Returns the new params and optimiser states and the mean loss per run f32[R].
    """
    if hypers is None:
        one = hyper_of(config, adversary)
        hypers = jax.tree.map(lambda v: jnp.broadcast_to(v, keys.shape[:1]), one)
    n_batches = train_labels.shape[0] // config.batch_size

    def one_seed(params, opt_state, key, hyper):
        optimizer = make_optimizer(config, hyper)
        order = jax.random.permutation(key, train_labels.shape[0])
        batches = order[: n_batches * config.batch_size].reshape(n_batches, config.batch_size)

        def body(carry, batch):
            params, opt_state = carry
            params, opt_state, loss = train_step(
                params, opt_state, train_ids[batch], train_labels[batch], tables.rarity[batch],
                tables, epoch, optimizer, adversary, adversarial, hyper,
            )  # fmt: skip
            return (params, opt_state), loss

        (params, opt_state), losses = jax.lax.scan(body, (params, opt_state), batches)
        return params, opt_state, losses.mean()

    return jax.vmap(one_seed)(params, opt_state, keys, hypers)


@jax.jit
def predict_logits(params: Params, feature_ids: jax.Array) -> jax.Array:
    """Logits f32[S, N] of stacked parameters (leading seed axis) on ``feature_ids`` i32[N, F]."""
    return jax.vmap(lambda p: fm_logits(p["fm"], feature_ids))(params)


@functools.partial(jax.jit, static_argnames="shared_pool")
def _split_metrics(
    params: Params,
    feature_ids: jax.Array,
    labels: jax.Array,
    ranking_key: jax.Array,
    shared_pool: bool = False,
) -> dict[str, jax.Array]:
    logits = predict_logits(params, feature_ids)
    metrics = fairness_metrics(labels, logits, ranking_key, shared_pool=shared_pool)
    metrics["log_loss"] = log_loss(labels, jax.nn.sigmoid(logits))
    return metrics


def evaluate(params: Params, dataset: FeatureDataset, split: str = "test") -> dict[str, np.ndarray]:
    """AUC, log loss, bucket AUCs (rarest first), STD and EFGD per seed on one split (NumPy arrays)."""
    data: FeatureSplit = getattr(dataset, split)
    key = log_fairness_score(data.feature_ids, dataset.alpha, dataset.beta)
    metrics = _split_metrics(
        params, jnp.asarray(data.feature_ids), jnp.asarray(data.labels), key, dataset.shared_pool
    )
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
    config: FMTrainConfig = FMTrainConfig(),  # noqa: B008 (frozen: a shared default is safe)
    seeds: Sequence[int] = (0,),
    progress: Any = None,
    hypers: Hyper | None = None,
) -> TrainResult:
    """Train one model for every seed in ``seeds`` in one compiled program per epoch kind.

    Early stopping runs on the host between compiled epochs, on validation AUC.
    ``progress``: optional callable ``(epoch, val_auc f32[S]) -> None`` (e.g. a tqdm update).
    ``hypers``: optional per-run hyper-parameters f32[S] each, run ``r`` training with seed
    ``seeds[r]`` (a tuning grid x seeds flattened into runs); default: the config's and the
    adversary's values for every seed.
    """
    if isinstance(adversary, str):
        adversary = model_config(adversary)
    config.validate(len(dataset.train))
    if hypers is not None and hypers.learning_rate.shape != (len(seeds),):
        raise ConfigError("hypers", f"expected one value per seed ({len(seeds)}) in each field")
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
            jnp.float32(epoch), config, adversary, adversarial, hypers,
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
        noisy, jnp.asarray(data.feature_ids), jnp.asarray(data.labels), key_rank,
        dataset.shared_pool,
    )  # fmt: skip
    return metrics["auc"]
