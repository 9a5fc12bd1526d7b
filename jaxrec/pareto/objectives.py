"""The objectives of an FM scorer on logged lists (CTR, GMV, accuracy, exposure): training losses and
evaluation metrics by name, on a batch's :class:`Scores`.

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
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxrec.errors import ConfigError
from jaxrec.metrics.accuracy import auc
from jaxrec.metrics.exposure import gini, position_weights
from jaxrec.metrics.stochastic_exposure import expected_exposure
from jaxrec.models.fm import bce_with_logits

Batch = dict[str, jax.Array]


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
OBJECTIVE_METRICS: dict[str, str] = {
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
