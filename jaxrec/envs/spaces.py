"""Tiny observation/action space descriptions (shapes, dtypes, bounds) for jaxrec environments."""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp


@dataclass(frozen=True)
class Slates:
    """A slate of ``slate_size`` distinct item ids in ``[0, n_items)`` for each of ``n_users``.

    Position 0 is the top of the slate (the most examined position).
    """

    n_users: int
    n_items: int
    slate_size: int

    @property
    def shape(self) -> tuple[int, int]:
        return (self.n_users, self.slate_size)

    dtype = jnp.int32

    def sample(self, key: jax.Array) -> jax.Array:
        """Uniform random slates without repeats inside a slate: i32[n_users, slate_size]."""
        noise = jax.random.uniform(key, (self.n_users, self.n_items))
        return jax.lax.top_k(noise, self.slate_size)[1].astype(jnp.int32)

    def contains(self, slate: jax.Array) -> jax.Array:
        """True when ``slate`` has the right shape, ids in range and no repeats within a slate."""
        if slate.shape != self.shape:
            return jnp.asarray(False)
        in_range = jnp.all((slate >= 0) & (slate < self.n_items))
        ordered = jnp.sort(slate, axis=-1)
        distinct = jnp.all(ordered[:, 1:] != ordered[:, :-1])
        return in_range & distinct


@dataclass(frozen=True)
class Box:
    """An array of a fixed shape and dtype with elementwise bounds."""

    low: float
    high: float
    shape: tuple[int, ...]
    dtype: jnp.dtype = jnp.float32
