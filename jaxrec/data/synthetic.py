"""Synthetic worlds: latent-factor users and items, power-law popularity, Zipf-sized producers.

The default world of jaxrec, so everything runs with no download. The generative model, for
``P`` pool users, ``M`` catalogue slots, ``d`` latent dimensions and ``n_producers`` producers:

- users ``u = normalise(w * c + z / sqrt(d))`` with ``z ~ N(0, I_d)`` and a shared "mainstream" unit
  direction ``c`` (weight ``w = mainstream_weight``): tastes are diverse but not isotropic, so the
  average user likes some items more than others;
- items ``v ~ N(0, relevance_std^2 I_d)``; since ``|u| = 1``, the true relevance ``u.v`` is exactly
  ``N(0, relevance_std^2)`` for every user (default std 1.25 logits);
- quality ``q ~ N(0, quality_std^2)`` (default 0.5), added to the click logit by the environment;
- initial popularity (trial-offer / social-influence models start from a skewed count, Salganik et al.
  2006): items are ranked by ``s = rho * a + sqrt(1 - rho^2) * e``, where ``a`` is the standardised
  appeal ``q + ubar.v`` (quality plus relevance to the mean user ``ubar``), ``e ~ N(0, 1)`` and
  ``rho = popularity_correlation``; the item of rank ``r`` (1 = top) gets popularity
  ``popularity_scale * r^(-popularity_exponent)`` (Zipf). Popularity therefore tracks appeal with rank
  correlation about ``(6/pi) asin(rho/2)`` (0.48 at the default 0.5): popular items are better on
  average, but luck matters — the starting point of the Matthew effect;
- a fraction ``empty_fraction`` of slots starts empty (``item_alive`` False, popularity 0) for cold-start
  arrivals; empty slots carry factors, quality and a producer drawn as above, for the items that arrive
  there;
- producer ``p`` (0-based) owns a share of slots proportional to ``(p + 1)^(-producer_exponent)`` (Zipf
  catalogue sizes, every producer at least one slot, largest-remainder rounding), slots dealt to
  producers in random order.

The sizes above depend only on the config; all randomness comes from the seed, so a seed fully
determines the world, and ``jax.vmap`` over keys builds a batch of worlds identical to building each alone.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Mapping
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxrec.data.world import World
from jaxrec.errors import ConfigError

_INT_FIELDS = ("n_users", "n_items", "n_producers", "dim")


@dataclasses.dataclass(frozen=True)
class SyntheticWorldConfig:
    """Parameters of :func:`synthetic_world`; a TOML table maps onto it via :meth:`from_dict`.

    Attributes:
      n_users: users an environment starts with.
      n_items: catalogue slots ``M`` (live items plus empty slots).
      n_producers: producers owning the catalogue; must be <= ``n_items``.
      dim: latent dimension ``d``.
      pool_users: population pool ``P >= n_users`` that churned users are replaced from;
        ``None`` means ``n_users`` (the pool is the initial population).
      relevance_std: std of the true relevance ``u.v`` in logits.
      quality_std: std of item quality in logits.
      mainstream_weight: weight of the taste direction all users share (0 = isotropic tastes).
      popularity_scale: initial popularity of the most popular item.
      popularity_exponent: Zipf exponent of initial popularity over popularity rank.
      popularity_correlation: correlation ``rho`` in [-1, 1] between the popularity score and appeal.
      producer_exponent: Zipf exponent of producer catalogue sizes (0 = equal sizes).
      empty_fraction: fraction of slots empty at reset, in [0, 1); at least one item stays alive.
    """

    n_users: int = 1024
    n_items: int = 2048
    n_producers: int = 64
    dim: int = 16
    pool_users: int | None = None
    relevance_std: float = 1.25
    quality_std: float = 0.5
    mainstream_weight: float = 0.5
    popularity_scale: float = 100.0
    popularity_exponent: float = 1.0
    popularity_correlation: float = 0.5
    producer_exponent: float = 1.0
    empty_fraction: float = 0.1

    def __post_init__(self) -> None:
        for name in (*_INT_FIELDS, "pool_users"):
            value = getattr(self, name)
            if name == "pool_users" and value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, numbers.Integral):
                raise ConfigError(name, f"must be an integer, got {value!r}")
            if value < 1:
                raise ConfigError(name, f"must be >= 1, got {value}")
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.name in (*_INT_FIELDS, "pool_users"):
                continue
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise ConfigError(field.name, f"must be a number, got {value!r}")
            if not math.isfinite(value):
                raise ConfigError(field.name, f"must be finite, got {value}")
        if self.n_producers > self.n_items:
            raise ConfigError(
                "n_producers",
                f"must be <= n_items ({self.n_items}) so every producer owns a slot, "
                f"got {self.n_producers}",
            )
        if self.pool_users is not None and self.pool_users < self.n_users:
            raise ConfigError(
                "pool_users", f"must be >= n_users ({self.n_users}), got {self.pool_users}"
            )
        for name in (
            "relevance_std",
            "quality_std",
            "mainstream_weight",
            "popularity_exponent",
            "producer_exponent",
        ):
            if getattr(self, name) < 0:
                raise ConfigError(name, f"must be >= 0, got {getattr(self, name)}")
        if self.popularity_scale <= 0:
            raise ConfigError("popularity_scale", f"must be > 0, got {self.popularity_scale}")
        if not -1 <= self.popularity_correlation <= 1:
            raise ConfigError(
                "popularity_correlation", f"must be in [-1, 1], got {self.popularity_correlation}"
            )
        if not 0 <= self.empty_fraction < 1:
            raise ConfigError("empty_fraction", f"must be in [0, 1), got {self.empty_fraction}")
        if self.n_alive < 1:
            raise ConfigError(
                "empty_fraction", f"leaves no live item among n_items = {self.n_items}"
            )

    @property
    def n_pool_users(self) -> int:
        return self.n_users if self.pool_users is None else self.pool_users

    @property
    def n_alive(self) -> int:
        """Items alive at reset: ``n_items`` minus the rounded empty fraction."""
        return self.n_items - round(self.empty_fraction * self.n_items)

    @classmethod
    def from_dict(cls, table: Mapping[str, Any], section: str = "") -> SyntheticWorldConfig:
        """Build from a mapping (e.g. a TOML table); errors name ``section.key``.

        Raises:
          ConfigError: an unknown key or an invalid value.
        """
        prefix = f"{section}." if section else ""
        known = {field.name for field in dataclasses.fields(cls)}
        for key in table:
            if key not in known:
                raise ConfigError(
                    f"{prefix}{key}", f"unknown key; expected one of {', '.join(sorted(known))}"
                )
        try:
            return cls(**table)
        except ConfigError as err:
            raise ConfigError(f"{prefix}{err.field}", str(err).split(": ", 1)[1]) from None


def producer_catalogue_sizes(n_items: int, n_producers: int, exponent: float) -> np.ndarray:
    """Zipf catalogue sizes: int64[n_producers], summing to ``n_items``, each >= 1, non-increasing.

    Every producer gets one slot; the other ``n_items - n_producers`` are shared in proportion to
    ``(p + 1)^(-exponent)`` by largest-remainder rounding (ties to the lower producer id).
    """
    weights = np.arange(1, n_producers + 1, dtype=np.float64) ** -exponent
    quotas = (n_items - n_producers) * weights / weights.sum()
    sizes = np.floor(quotas).astype(np.int64)
    leftover = n_items - n_producers - int(sizes.sum())
    by_remainder = np.argsort(-(quotas - sizes), kind="stable")
    sizes[by_remainder[:leftover]] += 1
    return sizes + 1


def deal_producers(key: jax.Array, n_items: int, n_producers: int, exponent: float) -> jax.Array:
    """i32[n_items]: the producer of each slot, Zipf sizes (:func:`producer_catalogue_sizes`) dealt
    to slots in an order drawn from ``key``."""
    sizes = producer_catalogue_sizes(n_items, n_producers, exponent)
    owners = jnp.asarray(np.repeat(np.arange(n_producers), sizes), jnp.int32)
    return jax.random.permutation(key, owners)


def probe_world(config: SyntheticWorldConfig, slate_size: int) -> World:
    """A one-user world of ``max(slate_size, 2)`` items drawn like ``config``'s (same dimension).

    Checking env parameters and policy options against it costs nothing, whatever the size of the
    world ``config`` describes, so configs are validated before the real world is allocated.
    """
    small = dataclasses.replace(
        config,
        n_users=1,
        pool_users=None,
        n_items=max(slate_size, 2),
        n_producers=1,
        empty_fraction=0.0,
    )
    return synthetic_world(0, small)


def synthetic_world(
    seed: int | jax.Array, config: SyntheticWorldConfig | None = None, **overrides: Any
) -> World:
    """Generate a synthetic :class:`World` (model in the module docstring).

    Args:
      seed: an int or a typed PRNG key (``jax.random.key``); it fully determines the arrays.
      config: parameters; defaults to ``SyntheticWorldConfig()``.
      **overrides: fields of :class:`SyntheticWorldConfig` replacing those of ``config``, e.g.
        ``synthetic_world(0, n_users=256, n_items=512)``.

    Returns:
      A world with ``user_factors`` f32[P, d], ``item_factors`` f32[M, d], ``item_quality``,
      ``item_popularity`` f32[M], ``item_producer`` i32[M], ``item_alive`` bool[M]. With a key
      argument it can be called under ``jax.vmap`` to build a batch of worlds.

    Raises:
      ConfigError: an unknown or invalid parameter, named.
    """
    config = SyntheticWorldConfig() if config is None else config
    if overrides:
        config = SyntheticWorldConfig.from_dict({**dataclasses.asdict(config), **overrides})
    key = jax.random.key(seed) if isinstance(seed, numbers.Integral) else seed
    return _generate(key, config)


@partial(jax.jit, static_argnums=1)
def _generate(key: jax.Array, config: SyntheticWorldConfig) -> World:
    k_main, k_users, k_items, k_quality, k_alive, k_popularity, k_producer = jax.random.split(
        key, 7
    )
    n_pool, n_items, dim = config.n_pool_users, config.n_items, config.dim

    mainstream = jax.random.normal(k_main, (dim,))
    mainstream = mainstream / jnp.linalg.norm(mainstream)
    tastes = config.mainstream_weight * mainstream + jax.random.normal(
        k_users, (n_pool, dim)
    ) / math.sqrt(dim)
    user_factors = tastes / jnp.linalg.norm(tastes, axis=1, keepdims=True)
    item_factors = config.relevance_std * jax.random.normal(k_items, (n_items, dim))
    item_quality = config.quality_std * jax.random.normal(k_quality, (n_items,))

    alive_slots = jax.random.permutation(k_alive, n_items)[: config.n_alive]
    item_alive = jnp.zeros(n_items, bool).at[alive_slots].set(True)

    # Appeal to the mean user, standardised over live items (a constant appeal leaves only luck).
    appeal = item_quality + item_factors @ user_factors.mean(axis=0)
    live_mean = jnp.sum(jnp.where(item_alive, appeal, 0.0)) / config.n_alive
    live_std = jnp.sqrt(
        jnp.sum(jnp.where(item_alive, (appeal - live_mean) ** 2, 0.0)) / config.n_alive
    )
    standardised = (appeal - live_mean) / jnp.maximum(live_std, 1e-12)
    rho = config.popularity_correlation
    score = rho * standardised + math.sqrt(1.0 - rho**2) * jax.random.normal(
        k_popularity, (n_items,)
    )
    score = jnp.where(item_alive, score, -jnp.inf)
    rank = jnp.zeros(n_items, jnp.int32).at[jnp.argsort(-score)].set(jnp.arange(n_items))
    zipf = config.popularity_scale * (rank + 1.0) ** -config.popularity_exponent
    item_popularity = jnp.where(item_alive, zipf, 0.0)

    item_producer = deal_producers(
        k_producer, n_items, config.n_producers, config.producer_exponent
    )

    return World(
        user_factors=user_factors.astype(jnp.float32),
        item_factors=item_factors.astype(jnp.float32),
        item_quality=item_quality.astype(jnp.float32),
        item_producer=item_producer,
        item_popularity=item_popularity.astype(jnp.float32),
        item_alive=item_alive,
        n_producers=config.n_producers,
    )
