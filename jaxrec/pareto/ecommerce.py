"""CTR and GMV objectives for an FM scorer on e-commerce lists, and many training runs as one program.

Objectives (PE-LTR, Lin et al. 2019), on a batch of lists with scores ``s = FM(features)``:

- ``ctr``: click binary cross-entropy over all impressions.
- ``gmv``: price-weighted purchase likelihood: ``-[log(1 + price) y_buy log sigmoid(s) +
  (1 - y_buy) log(1 - sigmoid(s))]``. The paper's purchase term alone (positives only) is
  minimised by ``s -> inf``; the non-purchased impressions act as the negatives that make it
  well posed — and they are what sets it against CTR (clicked-but-not-bought impressions are
  positives for one objective and negatives for the other).

Evaluation metrics (larger is better), on held-out lists:

- ``ctr``: click AUC over all impressions (:func:`jaxrec.metrics.auc`).
- ``gmv``: G-NDCG, NDCG with gain ``price`` on purchased impressions (0 otherwise), averaged over
  lists with a purchase.

:func:`train_runs` trains a grid of settings x seeds as one ``jit``-compiled ``vmap``: in
``"pareto"`` mode a setting is a bound vector for :func:`jaxrec.pareto.pareto_weights`; in
``"fixed"`` mode it is a weight vector of a fixed scalarisation (the comparison baseline).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxrec.data.ecommerce import EcommerceData, EcommerceLog
from jaxrec.errors import ConfigError
from jaxrec.metrics.accuracy import auc
from jaxrec.metrics.exposure import position_weights
from jaxrec.models.fm import (
    bce_with_logits,
    fm_logits,
    fm_logits_from_embeddings,
    init_fm_params,
)
from jaxrec.pareto.transform import pareto_weights, value_and_row_objective_grads

Batch = dict[str, jax.Array]


def log_arrays(log: EcommerceLog) -> Batch:
    """The device arrays of a log: feature_ids i32[S, L, F], clicks/purchases/prices f32[S, L], mask."""
    return {
        "feature_ids": jnp.asarray(log.feature_ids, jnp.int32),
        "clicks": jnp.asarray(log.clicks, jnp.float32),
        "purchases": jnp.asarray(log.purchases, jnp.float32),
        "prices": jnp.asarray(log.prices, jnp.float32),
        "mask": jnp.asarray(log.mask, jnp.float32),
    }


def _masked_mean(values: jax.Array, mask: jax.Array) -> jax.Array:
    return jnp.sum(values * mask) / jnp.maximum(jnp.sum(mask), 1.0)


def ctr_loss(logits: jax.Array, batch: Batch) -> jax.Array:
    """Click BCE, mean over real impressions; logits f32[S, L]."""
    return _masked_mean(bce_with_logits(logits, batch["clicks"]), batch["mask"])


def gmv_loss(logits: jax.Array, batch: Batch) -> jax.Array:
    """log(1 + price)-weighted purchase BCE with non-purchases as negatives; logits f32[S, L]."""
    weight = jnp.where(batch["purchases"] > 0.5, jnp.log1p(batch["prices"]), 1.0)
    return _masked_mean(weight * bce_with_logits(logits, batch["purchases"]), batch["mask"])


def g_ndcg(scores: jax.Array, gains: jax.Array, mask: jax.Array) -> jax.Array:
    """Mean NDCG over lists with a positive gain; scores/gains/mask f32[S, L] (padding masked out).

    Ranks each list of L slots with ``lax.top_k`` (L is a page, not the catalogue); discount
    ``1 / log2(1 + rank)``.
    """
    length = scores.shape[-1]
    scores = jnp.where(mask > 0, scores, -jnp.inf)
    gains = gains * mask
    _, order = jax.lax.top_k(scores, length)
    discount = position_weights(length, "log")
    dcg = jnp.sum(jnp.take_along_axis(gains, order, axis=-1) * discount, axis=-1)
    ideal = jnp.sum(jax.lax.top_k(gains, length)[0] * discount, axis=-1)
    has_gain = ideal > 0
    per_list = jnp.where(has_gain, dcg / jnp.where(has_gain, ideal, 1.0), 0.0)
    return jnp.sum(per_list) / jnp.maximum(jnp.sum(has_gain), 1)


LOSSES: dict[str, Callable[[jax.Array, Batch], jax.Array]] = {"ctr": ctr_loss, "gmv": gmv_loss}


def _click_auc(scores: jax.Array, batch: Batch) -> jax.Array:
    return auc(batch["clicks"].ravel(), scores.ravel(), weights=batch["mask"].ravel())


def _gmv_g_ndcg(scores: jax.Array, batch: Batch) -> jax.Array:
    return g_ndcg(scores, batch["purchases"] * batch["prices"], batch["mask"])


METRICS: dict[str, Callable[[jax.Array, Batch], jax.Array]] = {
    "ctr": _click_auc,
    "gmv": _gmv_g_ndcg,
}
METRIC_NAMES: dict[str, str] = {"ctr": "click AUC", "gmv": "G-NDCG"}


def parse_objectives(text: str | Sequence[str]) -> tuple[str, ...]:
    """``"ctr,gmv"`` -> ("ctr", "gmv"); ConfigError ``objectives`` when unknown or repeated."""
    names = tuple(n.strip() for n in text.split(",")) if isinstance(text, str) else tuple(text)
    unknown = [n for n in names if n not in LOSSES]
    if unknown or len(set(names)) != len(names) or len(names) < 2:
        raise ConfigError(
            "objectives",
            f"expected at least two distinct names from {', '.join(LOSSES)}, got {','.join(names)}",
        )
    return names


def evaluate_scores(scores: jax.Array, batch: Batch, objectives: Sequence[str]) -> jax.Array:
    """Metric values f32[K] of scores f32[S, L] on a log, in the order of ``objectives``."""
    return jnp.stack([METRICS[name](scores, batch) for name in objectives])


@dataclass(frozen=True)
class TrainConfig:
    """Training of one FM run: ``steps`` Adam steps on batches of ``batch_lists`` random lists."""

    steps: int = 600
    batch_lists: int = 64
    dim: int = 8
    learning_rate: float = 0.05
    solver: str = "auto"


def objective_losses(params: dict, batch: Batch, objectives: Sequence[str]) -> jax.Array:
    """The K training losses f32[K] of FM parameters on a batch of lists."""
    rows = params["embedding"][batch["feature_ids"]]
    return row_objective_losses(params, rows, batch, objectives)


def row_objective_losses(
    others: dict, rows: jax.Array, batch: Batch, objectives: Sequence[str]
) -> jax.Array:
    """:func:`objective_losses` from looked-up embedding rows f32[S, L, F, d] (for PE-LTR's
    row gradients, :func:`jaxrec.pareto.value_and_row_objective_grads`)."""
    logits = fm_logits_from_embeddings(rows, others["linear"], others["bias"])
    return jnp.stack([LOSSES[name](logits, batch) for name in objectives])


def make_train_fn(
    data: EcommerceData,
    objectives: Sequence[str],
    config: TrainConfig,
    mode: Literal["pareto", "fixed"],
) -> Callable[[jax.Array, jax.Array, Batch, Batch], dict[str, jax.Array]]:
    """Build ``run(settings f32[M, K], seeds i32[R], train, test) -> results``, one jitted program.

    Results (leading axes [M, R]): ``objectives`` f32[.., K] test metrics, ``weights`` f32[.., K]
    the objective weights averaged over the second half of training, ``losses`` f32[.., K] the
    final training losses.
    """
    if mode not in ("pareto", "fixed"):
        raise ConfigError("mode", f"expected 'pareto' or 'fixed', got {mode!r}")
    objectives = tuple(objectives)
    n_features, n_fields = data.n_features, len(data.field_sizes)

    def one_run(setting: jax.Array, seed: jax.Array, train: Batch, test: Batch) -> dict:
        init_key, batch_key = jax.random.split(jax.random.key(seed))
        params = init_fm_params(init_key, n_features, config.dim, n_fields)
        if mode == "pareto":
            tx = optax.chain(
                pareto_weights(setting, solver=config.solver), optax.adam(config.learning_rate)
            )
        else:
            tx = optax.adam(config.learning_rate)
        n_lists = train["clicks"].shape[0]

        def step(carry, step_key):
            params, opt_state = carry
            rows = jax.random.randint(step_key, (config.batch_lists,), 0, n_lists)
            batch = jax.tree.map(lambda x: x[rows], train)
            if mode == "pareto":
                losses, grads = value_and_row_objective_grads(
                    row_objective_losses,
                    params,
                    "embedding",
                    batch["feature_ids"],
                    batch,
                    objectives,
                )
                updates, opt_state = tx.update(grads, opt_state, params)
                weights = opt_state[0].weights
            else:

                def scalarised(p):
                    losses = objective_losses(p, batch, objectives)
                    return setting @ losses, losses

                (_, losses), grads = jax.value_and_grad(scalarised, has_aux=True)(params)
                updates, opt_state = tx.update(grads, opt_state, params)
                weights = setting
            return (optax.apply_updates(params, updates), opt_state), (weights, losses)

        keys = jax.random.split(batch_key, config.steps)
        (params, _), (weights, losses) = jax.lax.scan(step, (params, tx.init(params)), keys)
        scores = fm_logits(params, test["feature_ids"])
        return {
            "objectives": evaluate_scores(scores, test, objectives),
            "weights": weights[config.steps // 2 :].mean(axis=0),
            "losses": losses[-1],
        }

    over_seeds = jax.vmap(one_run, in_axes=(None, 0, None, None))
    return jax.jit(jax.vmap(over_seeds, in_axes=(0, None, None, None)))


def train_runs(
    data: EcommerceData,
    settings: np.ndarray,
    seeds: Sequence[int],
    objectives: Sequence[str] = ("ctr", "gmv"),
    config: TrainConfig | None = None,
    mode: Literal["pareto", "fixed"] = "pareto",
) -> dict[str, np.ndarray]:
    """Train ``len(settings) x len(seeds)`` FM runs as one compiled program; NumPy results [M, R, K]."""
    run = make_train_fn(data, objectives, config or TrainConfig(), mode)
    results = run(
        jnp.asarray(settings, jnp.float32),
        jnp.asarray(seeds, jnp.int32),
        log_arrays(data.train),
        log_arrays(data.test),
    )
    return {name: np.asarray(value) for name, value in results.items()}


def random_scorer_point(
    data: EcommerceData, objectives: Sequence[str], seed: int = 0
) -> np.ndarray:
    """Metric values f64[K] of uniformly random scores on the test lists: a fixed reference point."""
    test = log_arrays(data.test)
    scores = jax.random.uniform(jax.random.key(seed), test["clicks"].shape)
    return np.asarray(evaluate_scores(scores, test, objectives), np.float64)
