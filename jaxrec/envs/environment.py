"""What every jaxrec environment is: gymnax-style ``reset`` / ``step`` with explicit params.

:class:`Environment` is the interface :func:`jaxrec.envs.make_rollout` drives (the platform, its
wrappers, the FCPO protocol env and the agents' view of the platform all satisfy it);
:class:`VectorActionEnvironment` adds what the CPO / PPO-Lagrangian trainer
(:func:`jaxrec.agents.make_train`) needs: Gaussian action vectors turned into served items.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import jax


@runtime_checkable
class Environment(Protocol):
    """``reset(key, params) -> (obs, state)`` and
    ``step(key, state, action, params) -> (obs, state, reward, cost, terminated, truncated, info)``.

    ``reward``, ``cost``, ``terminated`` and ``truncated`` are per user slot, shape [U]; ``info``
    maps names to arrays. Both methods are pure, so they trace under ``jit``, ``vmap`` and ``scan``.
    """

    def reset(self, key: jax.Array, params: Any) -> tuple[Any, Any]: ...

    def step(
        self, key: jax.Array, state: Any, action: jax.Array, params: Any
    ) -> tuple[Any, Any, jax.Array, jax.Array, jax.Array, jax.Array, dict[str, jax.Array]]: ...


@runtime_checkable
class VectorActionEnvironment(Environment, Protocol):
    """An :class:`Environment` whose users are served by action vectors of size ``action_dim``:
    ``select(action f32[U, action_dim], obs, params) -> served items``; observations hold a
    ``history`` of ``history_len`` vectors of size ``dim``; training episodes last ``episode_len``."""

    action_dim: int
    dim: int
    history_len: int
    episode_len: int

    def select(self, action: jax.Array, obs: Any, params: Any) -> jax.Array: ...
