"""Training an FM scorer on logged lists for several objectives (:mod:`jaxrec.pareto.objectives`),
many runs as one program.

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
from jaxrec.models.fm import (
    fm_logits_from_embeddings,
    init_fm_params,
)
from jaxrec.pareto.objectives import (
    LOSSES,
    METRICS,
    Batch,
    Scores,
    needs_catalogue,
)
from jaxrec.pareto.transform import (
    pareto_weights,
    value_and_row_objective_grads,
    value_and_shared_grads,
)

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


def evaluate_objectives(params: dict, batch: Batch, objectives: Sequence[str]) -> jax.Array:
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
            "objectives": evaluate_objectives(params, test, objectives),
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
