"""The item side of the platform's step: item dynamics, producer exits, arrivals and labels.

Stages 10-13 of :mod:`jaxrec.envs.platform_stages` (which lists the whole step), pure functions
mirrored by the loop-based NumPy stages of :mod:`jaxrec.envs.reference_item_stages` (same names).
Shapes: U user slots, M item slots, P producers, d latent dimensions, G label vectors kept.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxrec.envs.platform_stages import ExposureTally
from jaxrec.envs.platform_types import EnvParams, EnvState, Noise


class ItemDrift(NamedTuple):
    """Item dynamics before producers leave and new items arrive."""

    item_popularity: jax.Array  # f32[M]
    item_exposure_recent: jax.Array  # f32[M]
    item_attractiveness: jax.Array  # f32[M]
    item_age: jax.Array  # f32[M]
    item_alive: jax.Array  # bool[M] after retirement


class ProducerPieces(NamedTuple):
    """The producer fields of :class:`EnvState` after a step."""

    producer_active: jax.Array  # bool[P]
    producer_exposure: jax.Array  # f32[P]
    producer_window_exposure: jax.Array  # f32[P]


class ItemPieces(NamedTuple):
    """The item fields of :class:`EnvState` after a step, except the head labels."""

    item_factors: jax.Array  # f32[M, d]
    item_quality: jax.Array  # f32[M]
    item_attractiveness: jax.Array  # f32[M]
    item_producer: jax.Array  # i32[M]
    item_alive: jax.Array  # bool[M]
    item_age: jax.Array  # f32[M]
    item_arrival_step: jax.Array  # i32[M]
    item_first_impression_step: jax.Array  # i32[M]
    item_popularity: jax.Array  # f32[M]
    item_exposure: jax.Array  # f32[M]
    item_exposure_recent: jax.Array  # f32[M]
    item_impressions: jax.Array  # f32[M]
    item_clicks: jax.Array  # f32[M]


class LabelPieces(NamedTuple):
    """The popular-group label fields of :class:`EnvState`."""

    item_is_head: jax.Array  # bool[M]
    label_history: jax.Array  # bool[G, M]


def evolve_items(
    state: EnvState,
    item_clicks: jax.Array,
    item_exposure: jax.Array,
    noise: Noise,
    params: EnvParams,
) -> ItemDrift:
    """Decay popularity and recent exposure, drift attractiveness, age and retire items.

    ``n <- decay n + clicks`` (f32[M]), ``e <- decay e + exposure`` (f32[M]),
    ``a <- rho a + std sqrt(1 - rho^2) N(0, 1)`` (stationary std ``attractiveness_std``),
    ``age <- age + 1``; a live item retires with chance ``item_retire_prob``.
    """
    rho = params.attractiveness_rho
    return ItemDrift(
        item_popularity=params.popularity_decay * state.item_popularity + item_clicks,
        item_exposure_recent=params.exposure_decay * state.item_exposure_recent + item_exposure,
        item_attractiveness=(
            rho * state.item_attractiveness
            + params.attractiveness_std * jnp.sqrt(1.0 - rho**2) * noise.attractiveness_normal
        ),
        item_age=state.item_age + 1.0,
        item_alive=state.item_alive & (noise.retire_uniform >= params.item_retire_prob),
    )


def producer_exits(
    state: EnvState,
    producer_step_exposure: jax.Array,
    alive: jax.Array,
    step_next: jax.Array,
    params: EnvParams,
) -> tuple[ProducerPieces, jax.Array]:
    """Producers below the outside option leave; optionally the superstar leaves too.

    Every ``producer_window`` steps, an active producer whose window exposure is below
    ``producer_exit_threshold`` x its fair share (window total x its share of live items, alive
    bool[M]) leaves and the windows restart; at step ``superstar_exit_step`` the most exposed
    active producer leaves. ``producer_step_exposure``: f32[P]; ``step_next``: i32[] the step
    being entered. Returns ``(producers, live items per producer f32[P])``.
    """
    n_producers = state.producer_active.shape[0]
    window_exposure = state.producer_window_exposure + producer_step_exposure
    producer_exposure = state.producer_exposure + producer_step_exposure
    producer_items = jnp.zeros(n_producers).at[state.item_producer].add(alive.astype(jnp.float32))
    fair_share = window_exposure.sum() * producer_items / jnp.maximum(producer_items.sum(), 1)
    check = (step_next % jnp.maximum(params.producer_window, 1)) == 0
    leaves = (
        check
        & state.producer_active
        & (window_exposure < params.producer_exit_threshold * fair_share)
    )
    superstar = jnp.argmax(jnp.where(state.producer_active, producer_exposure, -1.0))
    leaves = leaves | (
        (step_next == params.superstar_exit_step) & (jnp.arange(n_producers) == superstar)
    )
    producers = ProducerPieces(
        producer_active=state.producer_active & ~leaves,
        producer_exposure=producer_exposure,
        producer_window_exposure=jnp.where(check, 0.0, window_exposure),
    )
    return producers, producer_items


def item_arrivals(
    state: EnvState,
    drift: ItemDrift,
    tally: ExposureTally,
    producer_active: jax.Array,
    producer_items: jax.Array,
    step_next: jax.Array,
    noise: Noise,
    params: EnvParams,
) -> tuple[ItemPieces, jax.Array]:
    """Items of departed producers die; empty slots fill with new items; counters roll on.

    An empty slot gets an item with chance ``item_arrival_prob``, from an active producer (bool[P])
    drawn with weight ``live items + 1`` (f32[P]); its factors are N(0, 1) scaled per dimension to
    the world's item-factor RMS and its quality N(0, ``new_item_quality_std``^2). Dead items lose
    their popularity and recent exposure; a new item's counters and first impression restart.
    Returns ``(items, arrived bool[M])``.
    """
    world = params.world
    alive = drift.item_alive & producer_active[state.item_producer]
    arrive = ~alive & (noise.arrival_uniform < params.item_arrival_prob)
    weight = jnp.where(producer_active, producer_items + 1.0, 0.0)
    arrive = arrive & (weight.sum() > 0)
    cdf = jnp.cumsum(weight) / jnp.maximum(weight.sum(), 1e-12)
    new_producer = jnp.searchsorted(cdf, noise.new_producer_uniform, side="right")
    new_producer = jnp.clip(new_producer, 0, world.n_producers - 1).astype(jnp.int32)
    factor_scale = jnp.sqrt(jnp.mean(world.item_factors**2, axis=0))  # per-dimension RMS
    new_factors = noise.new_item_normal * factor_scale[None, :]
    new_quality = params.new_item_quality_std * noise.new_quality_normal
    items = ItemPieces(
        item_factors=jnp.where(arrive[:, None], new_factors, state.item_factors),
        item_quality=jnp.where(arrive, new_quality, state.item_quality),
        item_attractiveness=jnp.where(arrive, 0.0, drift.item_attractiveness),
        item_producer=jnp.where(arrive, new_producer, state.item_producer),
        item_alive=alive | arrive,
        item_age=jnp.where(arrive, 0.0, drift.item_age),
        item_arrival_step=jnp.where(arrive, step_next, state.item_arrival_step),
        item_first_impression_step=jnp.where(arrive, -1, tally.item_first_impression_step),
        item_popularity=jnp.where(alive, drift.item_popularity, 0.0),
        item_exposure=jnp.where(arrive, 0.0, state.item_exposure + tally.item_exposure),
        item_exposure_recent=jnp.where(alive, drift.item_exposure_recent, 0.0),
        item_impressions=jnp.where(arrive, 0.0, state.item_impressions + tally.item_impressions),
        item_clicks=jnp.where(arrive, 0.0, state.item_clicks + tally.item_clicks),
    )
    return items, arrive


def head_labels(
    popularity: jax.Array,
    alive: jax.Array,
    previous: jax.Array,
    head_fraction: jax.Array,
    hysteresis: jax.Array,
) -> jax.Array:
    """Popular-group labels: the top ``head_fraction`` of live items by popularity: bool[M].

    With hysteresis h > 0 an item already in the head stays while it ranks in the top (f + h).
    Ties are broken by item index (lower first), so labels are deterministic.
    """
    score = jnp.where(alive, popularity, -jnp.inf)
    order = jnp.argsort(-score, stable=True)
    rank = jnp.zeros_like(order).at[order].set(jnp.arange(order.shape[0]))
    n_alive = alive.sum()
    in_head = rank < jnp.ceil(head_fraction * n_alive)
    keep = previous & (rank < jnp.ceil((head_fraction + hysteresis) * n_alive))
    return (in_head | keep) & alive


def relabel(
    state: EnvState,
    popularity: jax.Array,
    alive: jax.Array,
    arrived: jax.Array,
    step_next: jax.Array,
    params: EnvParams,
) -> LabelPieces:
    """Every ``relabel_every`` steps the head is recomputed (:func:`head_labels`) and recorded.

    Between relabels an item keeps its label while alive; new items (arrived bool[M]) start in
    the tail. ``popularity`` f32[M] and ``alive`` bool[M] are the step's new values.
    """
    is_relabel_step = (step_next % jnp.maximum(params.relabel_every, 1)) == 0
    relabelled = head_labels(
        popularity, alive, state.item_is_head, params.head_fraction, params.relabel_hysteresis
    )
    is_head = jnp.where(is_relabel_step, relabelled, state.item_is_head & alive & ~arrived)
    label_history = jnp.where(
        is_relabel_step,
        jnp.concatenate([state.label_history[1:], is_head[None]], axis=0),
        state.label_history,
    )
    return LabelPieces(is_head, label_history)
