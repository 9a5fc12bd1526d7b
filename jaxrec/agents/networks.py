"""Flax networks of the FCPO agent (Ge et al. 2021): a Gaussian policy whose action is a vector in
item-embedding space, and scalar critics.

The policy encodes the user's recent items (their embeddings, f[..., h, d]) with an MLP into the mean
of a diagonal Gaussian with a state-independent log-std (as in the FCPO code). An item is chosen by
scoring every item ``e_i . w`` with the sampled action ``w``; the log-probability used by CPO is that
of ``w`` itself, the action actually sampled, never of the item it maps to.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

# a Python float: a jnp call at import would start the JAX backend before jax.distributed.initialize
_LOG_2PI = math.log(2.0 * math.pi)


class MLP(nn.Module):
    """tanh MLP on the flattened trailing ``flatten_dims`` axes; f[..., *] -> f[..., features[-1]]."""

    features: Sequence[int]
    flatten_dims: int = 2

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        x = x.reshape(*x.shape[: x.ndim - self.flatten_dims], -1)
        for width in self.features[:-1]:
            x = jnp.tanh(nn.Dense(width)(x))
        return nn.Dense(self.features[-1], kernel_init=nn.initializers.orthogonal(0.01))(x)


class GaussianPolicy(nn.Module):
    """history f[..., h, d] -> (mean f[..., a], log_std f[a]) of the action in item space."""

    action_dim: int
    hidden: Sequence[int] = (64, 64)
    init_log_std: float = 0.0

    @nn.compact
    def __call__(self, history: jax.Array) -> tuple[jax.Array, jax.Array]:
        mean = MLP((*self.hidden, self.action_dim))(history)
        log_std = self.param(
            "log_std", nn.initializers.constant(self.init_log_std), (self.action_dim,)
        )
        return mean, log_std


class Critic(nn.Module):
    """(history f[..., h, d], time fraction f[...]) -> value f[...]. The episode has a fixed length,
    so the value depends on how many steps remain."""

    hidden: Sequence[int] = (64, 64)

    @nn.compact
    def __call__(self, history: jax.Array, time_fraction: jax.Array) -> jax.Array:
        features = jnp.concatenate(
            [history.reshape(*history.shape[:-2], -1), time_fraction[..., None]], axis=-1
        )
        return MLP((*self.hidden, 1), flatten_dims=1)(features)[..., 0]


def gaussian_log_prob(action: jax.Array, mean: jax.Array, log_std: jax.Array) -> jax.Array:
    """Log-density of a diagonal Gaussian, summed over the last axis: f[..., a] -> f[...]."""
    z = (action - mean) * jnp.exp(-log_std)
    return jnp.sum(-0.5 * z**2 - log_std - 0.5 * _LOG_2PI, axis=-1)


def gaussian_kl(
    mean_p: jax.Array, log_std_p: jax.Array, mean_q: jax.Array, log_std_q: jax.Array
) -> jax.Array:
    """KL(p || q) of diagonal Gaussians, summed over the last axis: f[..., a] -> f[...]."""
    var_p, var_q = jnp.exp(2 * log_std_p), jnp.exp(2 * log_std_q)
    return jnp.sum(
        log_std_q - log_std_p + (var_p + (mean_p - mean_q) ** 2) / (2 * var_q) - 0.5, axis=-1
    )
