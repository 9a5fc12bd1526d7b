"""Objectives for an FM scorer on logged lists (CTR, GMV, accuracy, exposure) and many training
runs as one program.

Objectives (PE-LTR, Lin et al. 2019), on a batch of lists with scores ``s = FM(features)``:

- ``ctr``: click binary cross-entropy over all impressions.
- ``gmv``: price-weighted purchase likelihood: ``-[log(1 + price) y_buy log sigmoid(s) +
  (1 - y_buy) log(1 - sigmoid(s))]``. The paper's purchase term alone (positives only) is
  minimised by ``s -> inf``; the non-purchased impressions act as the negatives that make it
  well posed — and they are what sets it against CTR (clicked-but-not-bought impressions are
  positives for one objective and negatives for the other).
- ``accuracy``: the click BCE again, under the name used when it is paired with ``exposure``.
- ``exposure``: exposure concentration of the scorer over the whole catalogue (needs
  ``data.catalogue``, e.g. a simulator log, :mod:`jaxrec.experiments.simulator_log`). Each user ``s`` of
  the batch scores every candidate item; ``softmax(s_s)`` is the probability that a Plackett-Luce
  ranking with these logits puts an item first (a smooth stand-in for top-K exposure, cf. Singh &
  Joachims 2019). The penalty is ``M * sum_i share_i^2 - 1`` with ``share`` the batch mean of those
  probabilities: ``M x`` the Herfindahl index minus 1, 0 for equal exposure and ``M - 1`` for a
  monopoly. Ranking by relevance concentrates exposure on the items users click, so it conflicts
  with accuracy.

Evaluation metrics (larger is better), on held-out lists:

- ``ctr``: click AUC over all impressions (:func:`jaxrec.metrics.auc`).
- ``gmv``: G-NDCG, NDCG with gain ``price`` on purchased impressions (0 otherwise), averaged over
  lists with a purchase.
- ``accuracy``: click AUC, as ``ctr``.
- ``exposure``: ``1 - Gini`` of the position-weighted (``1/log2(1 + rank)``) exposure each
  catalogue item receives from the hard top-``L`` rankings of the distinct test users.

:func:`train_runs` trains a grid of settings x seeds as one ``jit``-compiled ``vmap``: in
``"pareto"`` mode a setting is a bound vector for :func:`jaxrec.pareto.pareto_weights`; in
``"fixed"`` mode it is a weight vector of a fixed scalarisation (the comparison baseline).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxrec.data.ecommerce import EcommerceData, EcommerceLog
from jaxrec.errors import ConfigError
from jaxrec.metrics.accuracy import auc
from jaxrec.metrics.exposure import gini, position_weights
from jaxrec.metrics.stochastic_exposure import expected_exposure
from jaxrec.models.fm import (
    bce_with_logits,
    fm_logits_from_embeddings,
    init_fm_params,
)
from jaxrec.pareto.transform import (
    pareto_weights,
    value_and_row_objective_grads,
    value_and_shared_grads,
)

Batch = dict[str, jax.Array]
CATALOGUE_KEYS = ("catalogue", "catalogue_users")  # per-log arrays, not indexed by list


def log_arrays(log: EcommerceLog, catalogue: np.ndarray | None = None) -> Batch:
    """The device arrays of a log: feature_ids i32[S, L, F], clicks/purchases/prices f32[S, L], mask.

    With ``catalogue`` i32[M, F - 1] (the item rows of every candidate) it also holds that and
    ``catalogue_users`` i32[U], the distinct users of the log (field 0), for the exposure objective.
    """
    arrays = {
        "feature_ids": jnp.asarray(log.feature_ids, jnp.int32),
        "clicks": jnp.asarray(log.clicks, jnp.float32),
        "purchases": jnp.asarray(log.purchases, jnp.float32),
        "prices": jnp.asarray(log.prices, jnp.float32),
        "mask": jnp.asarray(log.mask, jnp.float32),
    }
    if catalogue is not None:
        arrays["catalogue"] = jnp.asarray(catalogue, jnp.int32)
        arrays["catalogue_users"] = jnp.asarray(np.unique(log.feature_ids[:, 0, 0]), jnp.int32)
    return arrays


def _masked_mean(values: jax.Array, mask: jax.Array) -> jax.Array:
    return jnp.sum(values * mask) / jnp.maximum(jnp.sum(mask), 1.0)


def ctr_loss(logits: jax.Array, batch: Batch) -> jax.Array:
    """Click BCE, mean over real impressions; logits f32[S, L]."""
    return _masked_mean(bce_with_logits(logits, batch["clicks"]), batch["mask"])


def gmv_loss(logits: jax.Array, batch: Batch) -> jax.Array:
    """log(1 + price)-weighted purchase BCE with non-purchases as negatives; logits f32[S, L]."""
    weight = jnp.where(batch["purchases"] > 0.5, jnp.log1p(batch["prices"]), 1.0)
    return _masked_mean(weight * bce_with_logits(logits, batch["purchases"]), batch["mask"])


def exposure_concentration_loss(catalogue_logits: jax.Array, batch: Batch) -> jax.Array:
    """``M * sum_i share_i^2 - 1`` of the users' softmax exposure; catalogue_logits f32[S, M].

    ``share = mean_s softmax(catalogue_logits[s])`` (see the module docstring): 0 when every item
    gets the same expected exposure, ``M - 1`` when one item gets it all. Differentiable.
    """
    del batch
    share = jnp.mean(jax.nn.softmax(catalogue_logits, axis=-1), axis=0)
    return share.shape[0] * jnp.sum(jnp.square(share)) - 1.0


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


def top_k_exposure_equality(catalogue_scores: jax.Array, length: int) -> jax.Array:
    """``1 - Gini`` of the exposure the hard top-``length`` rankings give each catalogue item.

    catalogue_scores f32[U, M]: every user's score of every candidate. Each user's top ``length``
    items receive the position weights ``1 / log2(1 + rank)``; the Gini runs over all M items, so
    items nobody is shown count (at zero).
    """
    n_items = catalogue_scores.shape[-1]
    length = min(length, n_items)
    _, rankings = jax.lax.top_k(catalogue_scores, length)
    exposure = expected_exposure(rankings, n_items, position_weights(length, "log"))
    return 1.0 - gini(exposure)


class Scores(NamedTuple):
    """FM logits of one batch: ``lists`` f32[S, L] for the logged impressions, ``catalogue``
    f32[U, M] for every (user, candidate item) pair, or None when no objective needs it."""

    lists: jax.Array
    catalogue: jax.Array | None


def _list_metric(metric: Callable[[jax.Array, Batch], jax.Array]) -> Callable:
    return lambda scores, batch: metric(scores.lists, batch)


def _click_auc(scores: jax.Array, batch: Batch) -> jax.Array:
    return auc(batch["clicks"].ravel(), scores.ravel(), weights=batch["mask"].ravel())


def _gmv_g_ndcg(scores: jax.Array, batch: Batch) -> jax.Array:
    return g_ndcg(scores, batch["purchases"] * batch["prices"], batch["mask"])


def _exposure_equality(scores: Scores, batch: Batch) -> jax.Array:
    return top_k_exposure_equality(scores.catalogue, batch["clicks"].shape[-1])


LOSSES: dict[str, Callable[[Scores, Batch], jax.Array]] = {
    "ctr": _list_metric(ctr_loss),
    "gmv": _list_metric(gmv_loss),
    "accuracy": _list_metric(ctr_loss),
    "exposure": lambda scores, batch: exposure_concentration_loss(scores.catalogue, batch),
}
METRICS: dict[str, Callable[[Scores, Batch], jax.Array]] = {
    "ctr": _list_metric(_click_auc),
    "gmv": _list_metric(_gmv_g_ndcg),
    "accuracy": _list_metric(_click_auc),
    "exposure": _exposure_equality,
}
METRIC_NAMES: dict[str, str] = {
    "ctr": "click AUC",
    "gmv": "G-NDCG",
    "accuracy": "click AUC",
    "exposure": "1 - Gini of top-K exposure",
}
CATALOGUE_OBJECTIVES = frozenset({"exposure"})


def needs_catalogue(objectives: Sequence[str]) -> bool:
    """Whether any objective scores the whole catalogue (then the data needs ``catalogue``)."""
    return any(name in CATALOGUE_OBJECTIVES for name in objectives)


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


GRAMS = ("exact", "shared")
LR_SCHEDULES = ("constant", "cosine")


@dataclass(frozen=True)
class ParetoTrainConfig:
    """Training of one FM run: ``steps`` Adam steps on batches of ``batch_lists`` random lists.

    ``gram`` (pareto mode) picks the Gram matrix the weights are solved from: ``"exact"``, the
    per-objective parameter gradients (on the looked-up rows, :class:`jaxrec.pareto.RowGrads`);
    ``"shared"``, the gradients of the K losses with respect to the batch's logits
    (:class:`Scores`), MGDA-UB (Sener & Koltun 2018): an upper-bound surrogate of the exact weights
    whose combined update is one ordinary backward pass (:class:`jaxrec.pareto.SharedGrads`).
    ``lr_schedule`` is ``"constant"`` or ``"cosine"`` (Adam's step decays to 0 over ``steps``);
    ``weight_momentum`` is passed to :func:`jaxrec.pareto.pareto_weights`.
    """

    steps: int = 600
    batch_lists: int = 64
    dim: int = 8
    learning_rate: float = 0.05
    solver: str = "auto"
    gram: str = "exact"
    lr_schedule: str = "constant"
    weight_momentum: float = 0.0

    def __post_init__(self) -> None:
        for name, value, choices in (
            ("gram", self.gram, GRAMS),
            ("lr_schedule", self.lr_schedule, LR_SCHEDULES),
        ):
            if value not in choices:
                raise ConfigError(name, f"expected one of {', '.join(choices)}, got {value!r}")

    def learning_rate_schedule(self) -> float | optax.Schedule:
        """Adam's step size: constant, or cosine-decayed to 0 over ``steps`` (``lr_schedule``)."""
        if self.lr_schedule == "cosine":
            return optax.cosine_decay_schedule(self.learning_rate, self.steps)
        return self.learning_rate


def fm_catalogue_logits(
    user_rows: jax.Array, item_rows: jax.Array, linear: jax.Array, bias: jax.Array
) -> jax.Array:
    """FM logits f32[U, M] of every (user, item) pair without building the U x M x F embeddings.

    user_rows f32[U, d] (field 0), item_rows f32[M, F - 1, d] (the other fields). With ``s_i`` the
    sum of an item's field embeddings, the FM of :mod:`jaxrec.models.fm` expands to
    ``b + <w, e_u> + <w, s_i> + <e_u, s_i> + 0.5 (|s_i|^2 - sum_f |e_f|^2)``: one [U, d] x [d, M]
    product instead of U x M forward passes.
    """
    item_sum = item_rows.sum(axis=-2)
    item_pairs = 0.5 * (
        jnp.sum(jnp.square(item_sum), -1) - jnp.sum(jnp.square(item_rows), (-2, -1))
    )
    item_part = item_sum @ linear + item_pairs
    return bias + (user_rows @ linear)[:, None] + item_part[None, :] + user_rows @ item_sum.T


def lookup_ids(batch: Batch, objectives: Sequence[str], users: str = "lists") -> jax.Array:
    """The embedding rows i32[P] a batch reads: its lists' feature ids, then (for catalogue
    objectives) the users (field 0 of each list, or ``batch["catalogue_users"]`` when ``users`` is
    ``"catalogue_users"``) and the catalogue's item rows."""
    ids = [batch["feature_ids"].reshape(-1)]
    if needs_catalogue(objectives):
        user_ids = batch["feature_ids"][:, 0, 0] if users == "lists" else batch[users]
        ids += [user_ids, batch["catalogue"].reshape(-1)]
    return jnp.concatenate(ids)


def scores_from_rows(others: dict, rows: jax.Array, batch: Batch, with_catalogue: bool) -> Scores:
    """:class:`Scores` from the rows of :func:`lookup_ids` f32[P, d] and the other FM parameters."""
    lists, length, fields = batch["feature_ids"].shape
    n_list_rows = lists * length * fields
    list_rows = rows[:n_list_rows].reshape(lists, length, fields, -1)
    logits = fm_logits_from_embeddings(list_rows, others["linear"], others["bias"])
    catalogue = None
    if with_catalogue:
        n_items = batch["catalogue"].shape[0]
        n_users = rows.shape[0] - n_list_rows - batch["catalogue"].size
        user_rows = rows[n_list_rows : n_list_rows + n_users]
        item_rows = rows[n_list_rows + n_users :].reshape(n_items, fields - 1, -1)
        catalogue = fm_catalogue_logits(user_rows, item_rows, others["linear"], others["bias"])
    return Scores(logits, catalogue)


def row_objective_losses(
    others: dict, rows: jax.Array, batch: Batch, objectives: Sequence[str]
) -> jax.Array:
    """The K training losses f32[K] from the looked-up rows of :func:`lookup_ids` (the form
    :func:`jaxrec.pareto.value_and_row_objective_grads` differentiates)."""
    scores = scores_from_rows(others, rows, batch, needs_catalogue(objectives))
    return losses_of_scores(scores, batch, objectives)


def batch_scores(params: dict, batch: Batch, objectives: Sequence[str]) -> Scores:
    """The FM logits of a training batch (the shared representation of ``gram="shared"``)."""
    rows = params["embedding"][lookup_ids(batch, objectives)]
    return scores_from_rows(params, rows, batch, needs_catalogue(objectives))


def losses_of_scores(scores: Scores, batch: Batch, objectives: Sequence[str]) -> jax.Array:
    """The K training losses f32[K] from a batch's :class:`Scores`."""
    return jnp.stack([LOSSES[name](scores, batch) for name in objectives])


def objective_losses(params: dict, batch: Batch, objectives: Sequence[str]) -> jax.Array:
    """The K training losses f32[K] of FM parameters on a batch of lists."""
    return losses_of_scores(batch_scores(params, batch, objectives), batch, objectives)


def evaluate(params: dict, batch: Batch, objectives: Sequence[str]) -> jax.Array:
    """Metric values f32[K] of FM parameters on a log (the catalogue over its distinct users)."""
    with_catalogue = needs_catalogue(objectives)
    ids = lookup_ids(batch, objectives, users="catalogue_users")
    scores = scores_from_rows(params, params["embedding"][ids], batch, with_catalogue)
    return jnp.stack([METRICS[name](scores, batch) for name in objectives])


def make_train_fn(
    data: EcommerceData,
    objectives: Sequence[str],
    config: ParetoTrainConfig,
    mode: Literal["pareto", "fixed"],
) -> Callable[[jax.Array, jax.Array, Batch, Batch], dict[str, jax.Array]]:
    """Build ``run(settings f32[M, K], seeds i32[R], train, test) -> results``, one jitted program.

    Results (leading axes [M, R]): ``objectives`` f32[.., K] test metrics, ``weights`` f32[.., K]
    the objective weights averaged over the second half of training, ``losses`` f32[.., K] the
    final training losses. In pareto mode ``config.gram`` picks the exact (row-sparse parameter)
    Gram or the shared-logits Gram (MGDA-UB); see :class:`ParetoTrainConfig`.
    """
    if mode not in ("pareto", "fixed"):
        raise ConfigError("mode", f"expected 'pareto' or 'fixed', got {mode!r}")
    objectives = tuple(objectives)
    if needs_catalogue(objectives) and data.catalogue is None:
        raise ConfigError(
            "objectives",
            f"{','.join(objectives)} needs a catalogue of candidate items; {data.name} has none "
            "(use --data simulator)",
        )
    n_features, n_fields = data.n_features, len(data.field_sizes)
    learning_rate = config.learning_rate_schedule()

    def one_run(setting: jax.Array, seed: jax.Array, train: Batch, test: Batch) -> dict:
        init_key, batch_key = jax.random.split(jax.random.key(seed))
        params = init_fm_params(init_key, n_features, config.dim, n_fields)
        if mode == "pareto":
            tx = optax.chain(
                pareto_weights(
                    setting, solver=config.solver, weight_momentum=config.weight_momentum
                ),
                optax.adam(learning_rate),
            )
        else:
            tx = optax.adam(learning_rate)
        n_lists = train["clicks"].shape[0]

        def step(carry, step_key):
            params, opt_state = carry
            rows = jax.random.randint(step_key, (config.batch_lists,), 0, n_lists)
            batch = {
                name: value if name in CATALOGUE_KEYS else value[rows]
                for name, value in train.items()
            }
            if mode == "pareto":
                if config.gram == "shared":
                    losses, grads = value_and_shared_grads(
                        losses_of_scores, batch_scores, params, batch, objectives
                    )
                else:
                    losses, grads = value_and_row_objective_grads(
                        row_objective_losses,
                        params,
                        "embedding",
                        lookup_ids(batch, objectives),
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
        return {
            "objectives": evaluate(params, test, objectives),
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
    config: ParetoTrainConfig | None = None,
    mode: Literal["pareto", "fixed"] = "pareto",
) -> dict[str, np.ndarray]:
    """Train ``len(settings) x len(seeds)`` FM runs as one compiled program; NumPy results [M, R, K]."""
    run = make_train_fn(data, objectives, config or ParetoTrainConfig(), mode)
    results = run(
        jnp.asarray(settings, jnp.float32),
        jnp.asarray(seeds, jnp.int32),
        log_arrays(data.train, data.catalogue),
        log_arrays(data.test, data.catalogue),
    )
    return {name: np.asarray(value) for name, value in results.items()}


def reference_point(data: EcommerceData, objectives: Sequence[str], seed: int = 0) -> np.ndarray:
    """A fixed hypervolume reference point f64[K]: what an uninformed scorer reaches.

    Accuracy-type metrics (AUC, G-NDCG) take the value of uniformly random scores on the test
    lists. Random scores spread exposure almost evenly, the best the exposure metric can be, so
    ``exposure`` takes its worst value instead, 0 (all exposure on one item list).
    """
    test = log_arrays(data.test, data.catalogue)
    list_key, catalogue_key = jax.random.split(jax.random.key(seed))
    catalogue = None
    if needs_catalogue(objectives):
        shape = (test["catalogue_users"].shape[0], test["catalogue"].shape[0])
        catalogue = jax.random.uniform(catalogue_key, shape)
    scores = Scores(jax.random.uniform(list_key, test["clicks"].shape), catalogue)
    return np.asarray(
        [0.0 if name == "exposure" else float(METRICS[name](scores, test)) for name in objectives],
        np.float64,
    )


# the name before the three trainer configs got distinct names; kept for existing callers
TrainConfig = ParetoTrainConfig
