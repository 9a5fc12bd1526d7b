"""The :class:`World`: the fixed ingredients of a simulated platform.

A world is what the environment is built from: a population of users and a catalogue of items with
latent factors, item quality, producers and initial popularity. Synthetic generators and the
MovieLens fitter both return one, so every environment, agent and benchmark runs on either.
"""

from __future__ import annotations

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from jaxrec.errors import ConfigError


@flax.struct.dataclass
class World:
    """Arrays that define a platform before any step is taken.

    Shapes: ``P`` users in the population pool (the first ``n_users`` of an environment are the
    initial users; churned users are replaced by draws from the pool), ``M`` catalogue slots,
    ``d`` latent dimensions, ``n_producers`` producers.

    Attributes:
      user_factors: f32[P, d] latent taste vectors; true relevance is ``user_factors @ item_factors.T``.
      item_factors: f32[M, d] latent item vectors.
      item_quality: f32[M] intrinsic quality, added to the click logit.
      item_producer: i32[M] producer of each item, in ``[0, n_producers)``.
      item_popularity: f32[M] initial popularity (a decayed interaction count, >= 0).
      item_alive: bool[M] items live at reset; the others are empty slots new items arrive into.
      n_producers: number of producers (static: it fixes array shapes).
    """

    user_factors: jax.Array
    item_factors: jax.Array
    item_quality: jax.Array
    item_producer: jax.Array
    item_popularity: jax.Array
    item_alive: jax.Array
    n_producers: int = flax.struct.field(pytree_node=False)

    @property
    def n_pool_users(self) -> int:
        return self.user_factors.shape[0]

    @property
    def n_items(self) -> int:
        return self.item_factors.shape[0]

    @property
    def dim(self) -> int:
        return self.item_factors.shape[1]

    def validate(self) -> World:
        """Check shapes, dtypes and ranges; raise :class:`ConfigError` naming the field."""
        m, d = np.shape(self.item_factors)
        if np.ndim(self.user_factors) != 2 or np.shape(self.user_factors)[1] != d:
            raise ConfigError(
                "world.user_factors",
                f"expected shape [P, {d}] to match item_factors, got {np.shape(self.user_factors)}",
            )
        for name in ("item_quality", "item_producer", "item_popularity", "item_alive"):
            if np.shape(getattr(self, name)) != (m,):
                raise ConfigError(
                    f"world.{name}", f"expected shape [{m}], got {np.shape(getattr(self, name))}"
                )
        producers = np.asarray(self.item_producer)
        if producers.size and (producers.min() < 0 or producers.max() >= self.n_producers):
            raise ConfigError(
                "world.item_producer", f"producer ids must lie in [0, {self.n_producers})"
            )
        if np.any(np.asarray(self.item_popularity) < 0):
            raise ConfigError("world.item_popularity", "must be >= 0")
        for name in ("user_factors", "item_factors", "item_quality", "item_popularity"):
            if not np.all(np.isfinite(np.asarray(getattr(self, name)))):
                raise ConfigError(f"world.{name}", "contains NaN or infinite values")
        if not np.any(np.asarray(self.item_alive)):
            raise ConfigError("world.item_alive", "at least one item must be alive at reset")
        return self

    @classmethod
    def from_arrays(
        cls,
        user_factors,
        item_factors,
        item_quality,
        item_producer,
        item_popularity,
        item_alive=None,
        n_producers: int | None = None,
    ) -> World:
        """Build and validate a world from array-likes (cast to float32 / int32 / bool)."""
        item_producer = np.asarray(item_producer, dtype=np.int32)
        if n_producers is None:
            n_producers = int(item_producer.max()) + 1 if item_producer.size else 1
        if item_alive is None:
            item_alive = np.ones(item_producer.shape, dtype=bool)
        world = cls(
            user_factors=jnp.asarray(user_factors, jnp.float32),
            item_factors=jnp.asarray(item_factors, jnp.float32),
            item_quality=jnp.asarray(item_quality, jnp.float32),
            item_producer=jnp.asarray(item_producer, jnp.int32),
            item_popularity=jnp.asarray(item_popularity, jnp.float32),
            item_alive=jnp.asarray(item_alive, bool),
            n_producers=int(n_producers),
        )
        return world.validate()
