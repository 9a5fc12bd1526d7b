"""Exposure-aware marketplace re-ranking: a versioned TOML policy file and a jit-able slate stage.

A marketplace policy turns a scorer's per-user scores into slates under operator controls:

- **floors** (never relaxed): an item enters a slate only if its relevance score is at least
  ``floors.relevance`` and its quality at least ``floors.quality``; when fewer items pass, the slate
  keeps empty positions (id ``-1``, not shown) rather than show an item below a floor;
- **max_per_producer**: at most this many items of one producer per slate;
- **max_head_share**: at most ``floor(max_head_share * K)`` head-group items per slate;
- **min_new_slots**: at least this many new items (arrived within ``new_item_age`` steps) per slate,
  when eligible new candidates exist;
- **saturation penalty**: ``score - alpha * min(max(E_p / T_p - 1, 0), cap)`` for an item of producer
  ``p`` whose recent exposure ``E_p`` exceeds its target ``T_p = target * fair share`` (fair share =
  total recent exposure x the producer's share of live items), after the viability threshold of
  Mladenov et al. (2020);
- **under-exposure bonus**: ``score + min(beta * max(1 - E_i / T_i, 0), cap)`` for items of quality
  at least ``bonus.min_quality`` whose recent exposure ``E_i`` is under the per-item target
  ``T_i = target * mean live-item exposure``.

Slates are built greedily, position by position (K is small and static), taking the best adjusted
score among items that satisfy every constraint. When no item does, constraints give way in a fixed
priority, lowest first: ``min_new_slots``, then ``max_head_share``, then ``max_per_producer`` (the
item taken breaks the lowest-priority set of constraints possible); which one gave way is reported
per user. Each step is a masked ``argmax`` over the catalogue, so the
stage costs ``O(K U M)`` and never sorts the catalogue.

Policy file (``version = 1``; every section optional, defaults below)::

    version = 1
    [floors]
    relevance = -1e9     # minimum scorer logit
    quality = -1e9       # minimum item quality
    [slate]
    max_per_producer = 0 # 0 = no limit
    max_head_share = 1.0
    min_new_slots = 0
    new_item_age = 50
    [saturation]
    alpha = 0.0
    cap = 1.0
    target = 1.0
    [bonus]
    beta = 0.0
    cap = 0.0
    target = 1.0
    min_quality = 0.0
    [[alerts]]           # see jaxrec.metrics.alerts
    metric = "top1_share"
    op = ">"
    threshold = 0.3
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp

from jaxrec import tomlconfig
from jaxrec.errors import ConfigError

POLICY_VERSION = 1
# Constraints that may give way, in the order they are relaxed (lowest priority first).
YIELDING_CONSTRAINTS = ("min_new_slots", "max_head_share", "max_per_producer")

_SECTIONS: dict[str, dict[str, tuple[type, Any]]] = {
    "floors": {"relevance": (float, -1e9), "quality": (float, -1e9)},
    "slate": {
        "max_per_producer": (int, 0),
        "max_head_share": (float, 1.0),
        "min_new_slots": (int, 0),
        "new_item_age": (int, 50),
    },
    "saturation": {"alpha": (float, 0.0), "cap": (float, 1.0), "target": (float, 1.0)},
    "bonus": {
        "beta": (float, 0.0),
        "cap": (float, 0.0),
        "target": (float, 1.0),
        "min_quality": (float, 0.0),
    },
}


@flax.struct.dataclass
class RerankParams:
    """The numeric controls of a marketplace policy as traced scalars (``vmap``-able)."""

    relevance_floor: jax.Array
    quality_floor: jax.Array
    max_per_producer: jax.Array  # i32; 0 = no limit
    max_head_share: jax.Array
    min_new_slots: jax.Array  # i32
    new_item_age: jax.Array  # i32
    saturation_alpha: jax.Array
    saturation_cap: jax.Array
    saturation_target: jax.Array
    bonus_beta: jax.Array
    bonus_cap: jax.Array
    bonus_target: jax.Array
    bonus_min_quality: jax.Array


@dataclasses.dataclass(frozen=True)
class MarketplacePolicy:
    """A parsed policy file: ``sections[name][field]`` values and the alert rules (dicts)."""

    version: int
    sections: dict[str, dict[str, Any]]
    alerts: tuple[dict[str, Any], ...] = ()
    source: str = "<defaults>"

    def params(self) -> RerankParams:
        """The traced parameters of the re-ranking stage."""
        floors, slate = self.sections["floors"], self.sections["slate"]
        sat, bonus = self.sections["saturation"], self.sections["bonus"]
        f32 = lambda v: jnp.asarray(v, jnp.float32)  # noqa: E731
        i32 = lambda v: jnp.asarray(v, jnp.int32)  # noqa: E731
        return RerankParams(
            relevance_floor=f32(floors["relevance"]),
            quality_floor=f32(floors["quality"]),
            max_per_producer=i32(slate["max_per_producer"]),
            max_head_share=f32(slate["max_head_share"]),
            min_new_slots=i32(slate["min_new_slots"]),
            new_item_age=i32(slate["new_item_age"]),
            saturation_alpha=f32(sat["alpha"]),
            saturation_cap=f32(sat["cap"]),
            saturation_target=f32(sat["target"]),
            bonus_beta=f32(bonus["beta"]),
            bonus_cap=f32(bonus["cap"]),
            bonus_target=f32(bonus["target"]),
            bonus_min_quality=f32(bonus["min_quality"]),
        )

    def check_slate_size(self, slate_size: int) -> None:
        """Reject policies that contradict the slate size (raise ConfigError naming the field)."""
        slate = self.sections["slate"]
        if slate["min_new_slots"] > slate_size:
            raise ConfigError(
                "slate.min_new_slots",
                f"{slate['min_new_slots']} new-item slots cannot fit a slate of {slate_size}",
            )


def policy_from_dict(raw: dict[str, Any], source: str = "<dict>") -> MarketplacePolicy:
    """Validate a policy mapping (as read from TOML); errors name the offending field."""
    from jaxrec.metrics.alerts import parse_rules

    raw = dict(raw)
    version = raw.pop("version", None)
    if version is None:
        raise ConfigError("version", f"missing; policy files start with version = {POLICY_VERSION}")
    if version != POLICY_VERSION:
        raise ConfigError("version", f"unsupported version {version!r}; expected {POLICY_VERSION}")
    alerts = parse_rules(raw.pop("alerts", []))
    sections: dict[str, dict[str, Any]] = {}
    for unknown in set(raw) - set(_SECTIONS):
        raise ConfigError(unknown, f"unknown section; expected one of {sorted(_SECTIONS)}")
    for name, fields in _SECTIONS.items():
        given = raw.get(name, {})
        if not isinstance(given, dict):
            raise ConfigError(name, "expected a table")
        for unknown in set(given) - set(fields):
            raise ConfigError(
                f"{name}.{unknown}", f"unknown field; expected one of {sorted(fields)}"
            )
        values = {}
        for field, (kind, default) in fields.items():
            # finite first: int(nan) would raise before the field could be named
            value = tomlconfig.number(given.get(field, default), f"{name}.{field}")
            if kind is int and value != int(value):
                raise ConfigError(f"{name}.{field}", f"expected an integer, got {value!r}")
            values[field] = kind(value)
        sections[name] = values
    _check_ranges(sections)
    return MarketplacePolicy(POLICY_VERSION, sections, tuple(alerts), source)


def _check_ranges(sections: dict[str, dict[str, Any]]) -> None:
    non_negative = (
        ("slate", "max_per_producer"),
        ("slate", "min_new_slots"),
        ("slate", "new_item_age"),
        ("saturation", "alpha"),
        ("saturation", "cap"),
        ("bonus", "beta"),
        ("bonus", "cap"),
    )
    for section, field in non_negative:
        if sections[section][field] < 0:
            raise ConfigError(f"{section}.{field}", f"must be >= 0, got {sections[section][field]}")
    for section in ("saturation", "bonus"):
        if sections[section]["target"] <= 0:
            raise ConfigError(f"{section}.target", "must be > 0 (a multiple of the fair share)")
    share = sections["slate"]["max_head_share"]
    if not 0.0 <= share <= 1.0:
        raise ConfigError("slate.max_head_share", f"must lie in [0, 1], got {share}")


def load_policy(path: str | Path) -> MarketplacePolicy:
    """Read and validate a TOML policy file (see the module docstring for the schema)."""
    return policy_from_dict(tomlconfig.read_toml(path, "policy file"), source=str(path))


EXAMPLE_POLICY_PATH = Path(__file__).with_name("example_marketplace_policy.toml")
"""A commented example policy file shipped with the package (``jaxrec closed-loop --print-example-policy``)."""


def default_policy() -> MarketplacePolicy:
    """A pass-through policy: no floors, limits, penalty or bonus."""
    return policy_from_dict({"version": POLICY_VERSION}, source="<defaults>")


# --------------------------------------------------------------------------------------------------
# Score adjustments
# --------------------------------------------------------------------------------------------------


def saturation_penalty(exposure: jax.Array, target: jax.Array, cap: jax.Array) -> jax.Array:
    """``min(max(exposure / target - 1, 0), cap)``: relative excess over target, capped; f32[...]."""
    excess = exposure / jnp.maximum(target, 1e-12) - 1.0
    return jnp.minimum(jnp.maximum(excess, 0.0), cap)


def underexposure_bonus(
    exposure: jax.Array, target: jax.Array, beta: jax.Array, cap: jax.Array
) -> jax.Array:
    """``min(beta * max(1 - exposure / target, 0), cap)``: relative shortfall, scaled, capped."""
    shortfall = 1.0 - exposure / jnp.maximum(target, 1e-12)
    return jnp.minimum(beta * jnp.maximum(shortfall, 0.0), cap)


def adjusted_scores(
    scores: jax.Array,
    item_exposure: jax.Array,
    item_producer: jax.Array,
    item_quality: jax.Array,
    item_alive: jax.Array,
    n_producers: int,
    params: RerankParams,
) -> jax.Array:
    """Scores after the saturation penalty and the under-exposure bonus: f32[U, M].

    Args:
      scores: f32[U, M] scorer output.
      item_exposure: f32[M] recent (decayed, position-weighted) exposure per item.
      item_producer: i32[M]; item_quality: f32[M]; item_alive: bool[M].
      n_producers: P (static).
    """
    live_exposure = jnp.where(item_alive, item_exposure, 0.0)
    live = item_alive.astype(jnp.float32)
    producer_exposure = jnp.zeros(n_producers).at[item_producer].add(live_exposure)
    producer_items = jnp.zeros(n_producers).at[item_producer].add(live)
    total, n_live = live_exposure.sum(), jnp.maximum(live.sum(), 1.0)
    producer_target = params.saturation_target * total * producer_items / n_live
    penalty = saturation_penalty(producer_exposure, producer_target, params.saturation_cap)
    item_target = params.bonus_target * total / n_live
    bonus = underexposure_bonus(item_exposure, item_target, params.bonus_beta, params.bonus_cap)
    bonus = jnp.where(item_quality >= params.bonus_min_quality, bonus, 0.0)
    return scores - params.saturation_alpha * penalty[item_producer][None, :] + bonus[None, :]


# --------------------------------------------------------------------------------------------------
# Constrained slate construction
# --------------------------------------------------------------------------------------------------


def constrained_slate(
    scores: jax.Array,
    relevance: jax.Array,
    mask: jax.Array,
    item_producer: jax.Array,
    item_quality: jax.Array,
    item_is_head: jax.Array,
    item_is_new: jax.Array,
    n_producers: int,
    slate_size: int,
    params: RerankParams,
) -> tuple[jax.Array, jax.Array]:
    """Greedy constrained slates: ``(slate i32[U, K], gave_way bool[U, 3])``.

    Args:
      scores: f32[U, M] ranking scores (e.g. :func:`adjusted_scores`); higher is better.
      relevance: f32[U, M] the scorer's relevance, checked against ``relevance_floor``.
      mask: bool[U, M] allowed items.
      item_producer i32[M], item_quality f32[M], item_is_head bool[M], item_is_new bool[M].
      n_producers, slate_size: P and K (static).

    Positions are filled best-first; a position with no floor-passing item left holds ``-1``.
    ``gave_way[:, c]`` says constraint :data:`YIELDING_CONSTRAINTS` ``[c]`` had to give way for some
    position of that user's slate. Ties go to the lower item index.
    """
    u, m = scores.shape
    k = slate_size
    rows = jnp.arange(u)
    passes_floors = (
        mask
        & (relevance >= params.relevance_floor)
        & (item_quality >= params.quality_floor)[None, :]
    )
    producer_limit = jnp.where(params.max_per_producer > 0, params.max_per_producer, k)
    head_limit = jnp.floor(params.max_head_share * k + 1e-6).astype(jnp.int32)
    new_wanted = jnp.minimum(params.min_new_slots, k)
    producer_one_hot = jax.nn.one_hot(item_producer, n_producers, dtype=jnp.float32).T  # [P, M]
    item_ids = jnp.arange(m)[None, :]

    def position(carry, j):
        chosen, producer_count, n_head, n_new, gave_way = carry
        open_items = passes_floors & ~chosen
        # producers at their limit, spread to their items by a one-hot product (cheaper than a
        # [U, M] gather on CPU)
        full = (producer_count >= producer_limit).astype(jnp.float32)  # [U, P]
        over_producer = (full @ producer_one_hot) > 0.5  # [U, M]
        over_head = item_is_head[None, :] & (n_head >= head_limit)[:, None]
        # new items are required when every remaining position is needed and one is available
        new_open = (open_items & item_is_new[None, :]).any(axis=1)
        must_new = ((k - j) <= (new_wanted - n_new)) & new_open
        not_new = must_new[:, None] & ~item_is_new[None, :]
        # violation code, bit c = constraint YIELDING_CONSTRAINTS[c] broken; the smallest code
        # breaks the lowest-priority constraints only (lexicographic in priority)
        code = 4 * over_producer + 2 * over_head + not_new
        least = jnp.min(jnp.where(open_items, code, 8), axis=1)  # 8 = nothing open
        candidates = open_items & (code == least[:, None])
        best = jnp.argmax(jnp.where(candidates, scores, -jnp.inf), axis=1)
        filled = least < 8
        item = jnp.where(filled, best, -1).astype(jnp.int32)
        broken = (least[:, None] >> jnp.arange(3)[None, :]) & 1
        gave_way = gave_way | (filled[:, None] & (broken == 1))
        take = filled.astype(jnp.int32)
        chosen = chosen | ((item_ids == best[:, None]) & filled[:, None])
        producer_count = producer_count.at[rows, item_producer[best]].add(take)
        n_head = n_head + take * item_is_head[best]
        n_new = n_new + take * item_is_new[best]
        return (chosen, producer_count, n_head, n_new, gave_way), item

    init = (
        jnp.zeros((u, m), bool),
        jnp.zeros((u, n_producers), jnp.int32),
        jnp.zeros(u, jnp.int32),
        jnp.zeros(u, jnp.int32),
        jnp.zeros((u, 3), bool),
    )
    (_, _, _, _, gave_way), items = jax.lax.scan(position, init, jnp.arange(k), unroll=True)
    return items.T, gave_way


def rerank(
    scores: jax.Array,
    mask: jax.Array,
    state: Any,
    n_producers: int,
    slate_size: int,
    params: RerankParams,
) -> tuple[jax.Array, jax.Array]:
    """The whole re-ranking stage on a platform state: ``(slate i32[U, K], gave_way bool[U, 3])``.

    ``scores`` f32[U, M] are the scorer's logits (the relevance the floor checks); the ranking uses
    them after :func:`adjusted_scores`. New items are live items that arrived (after reset) within
    ``new_item_age`` steps; head items are the platform's current head group.
    """
    ranking = adjusted_scores(
        scores,
        state.item_exposure_recent,
        state.item_producer,
        state.item_quality,
        state.item_alive,
        n_producers,
        params,
    )
    is_new = (state.step - state.item_arrival_step <= params.new_item_age) & (
        state.item_arrival_step > 0
    )
    return constrained_slate(
        ranking,
        scores,
        mask,
        state.item_producer,
        state.item_quality,
        state.item_is_head,
        is_new & state.item_alive,
        n_producers,
        slate_size,
        params,
    )
