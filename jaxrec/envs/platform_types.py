"""The platform's data types: parameters, state, observation and random draws, with validation.

Shapes: U user slots, K slate positions, M item slots, P producers, d latent dimensions, H clicked
items remembered per user, R = seen_window x K recently shown items, G label vectors kept, L logged
steps. :class:`~jaxrec.envs.platform.PlatformEnv` builds and advances these; the step's stages live
in :mod:`jaxrec.envs.platform_stages`.
"""

from __future__ import annotations

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from jaxrec.data.world import World
from jaxrec.errors import ConfigError

CHOICE_INDEPENDENT = 0
CHOICE_MULTINOMIAL = 1


@flax.struct.dataclass
class EnvParams:
    """Everything a sweep may vary, as traced values (``vmap`` over params needs no recompile).

    Each dynamic is switched off by a neutral value, given in brackets.
    """

    world: World
    examination: jax.Array  # f32[K] examination probability per slate position
    choice_model: jax.Array = CHOICE_INDEPENDENT  # 0 independent clicks, 1 multinomial logit
    relevance_weight: jax.Array = 1.0  # scale of true relevance u.v in the click logit
    quality_weight: jax.Array = 1.0  # scale of item quality + attractiveness [0]
    click_bias: jax.Array = 0.0  # intercept of the click logit
    no_click_utility: jax.Array = 0.0  # utility of the outside option under the multinomial logit
    popularity_beta: jax.Array = 0.5  # Matthew-effect strength on log(1 + popularity) [0]
    popularity_decay: jax.Array = 0.96  # popularity n <- decay * n + clicks
    exposure_decay: jax.Array = 0.96  # recent exposure e <- decay * e + exposure
    attractiveness_rho: jax.Array = 0.99  # AR(1) persistence of item attractiveness drift
    attractiveness_std: jax.Array = 0.1  # stationary std of attractiveness drift [0]
    ageing_weight: jax.Array = 1.0  # weight of log g(age) in the click logit [0]
    age_tau: jax.Array = 200.0  # ageing g(a) = exp(-(a / tau)^shape) (Wu & Huberman 2007)
    age_shape: jax.Array = 0.4
    item_retire_prob: jax.Array = 0.001  # per live item per step [0]
    item_arrival_prob: jax.Array = 0.02  # per empty item slot per step [0]
    new_item_quality_std: jax.Array = 0.5  # quality of arriving items ~ N(0, std^2)
    taste_drift: jax.Array = 0.05  # eta in u <- |u| normalise(u + eta mean(x_clicked - u)) [0]
    temper_init: jax.Array = 5.0  # a new user's patience budget (KuaiSim-style churn)
    temper_max: jax.Array = 10.0
    temper_step_cost: jax.Array = 1.0  # patience lost each step [0]
    temper_click_gain: jax.Array = 1.0  # patience gained per click
    user_arrival_prob: jax.Array = 0.2  # chance an empty user slot is refilled each step
    producer_window: jax.Array = 20  # producers are checked every this many steps
    producer_exit_threshold: jax.Array = 0.1  # leave if window exposure < this x fair share [0]
    superstar_exit_step: jax.Array = -1  # the most exposed producer leaves at this step [-1]
    relabel_every: jax.Array = 10  # head/long-tail labels recomputed every this many steps
    head_fraction: jax.Array = 0.2  # share of live items labelled head
    relabel_hysteresis: jax.Array = 0.0  # a head item stays head while in the top (f + h)
    cost_head_count: jax.Array = 1.0  # cost weight on the number of head items in the slate
    cost_head_exposure: jax.Array = 0.0  # cost weight on position-weighted head exposure
    max_steps: jax.Array = 1000  # time limit (truncation)


@flax.struct.dataclass
class EnvState:
    """The whole platform at one step. Shapes: U users, M items, P producers, H history."""

    step: jax.Array  # i32[]
    # users
    user_factors: jax.Array  # f32[U, d] current tastes (drift toward what they consume)
    user_id: jax.Array  # i32[U] pool index of the user in each slot
    user_active: jax.Array  # bool[U]
    user_temper: jax.Array  # f32[U]
    user_history: jax.Array  # i32[U, H] last clicked items, oldest first, -1 padded at the front
    user_recent_shown: jax.Array  # i32[U, R] items of the last R / K slates (-1 none)
    user_steps: jax.Array  # i32[U] steps since this user arrived
    # items
    item_factors: jax.Array  # f32[M, d]
    item_quality: jax.Array  # f32[M]
    item_attractiveness: jax.Array  # f32[M] drifting appeal
    item_producer: jax.Array  # i32[M]
    item_alive: jax.Array  # bool[M]
    item_age: jax.Array  # f32[M] steps since arrival
    item_arrival_step: jax.Array  # i32[M]
    item_first_impression_step: jax.Array  # i32[M], -1 until first shown
    item_popularity: jax.Array  # f32[M] decayed click count
    item_exposure: jax.Array  # f32[M] position-weighted exposure since reset
    item_exposure_recent: jax.Array  # f32[M] decayed position-weighted exposure
    item_impressions: jax.Array  # f32[M] impressions since reset
    item_clicks: jax.Array  # f32[M] clicks since reset
    item_is_head: jax.Array  # bool[M] current popular-group label
    label_history: jax.Array  # bool[G, M] the last G label vectors, newest last
    # producers
    producer_active: jax.Array  # bool[P]
    producer_exposure: jax.Array  # f32[P] since reset
    producer_window_exposure: jax.Array  # f32[P] in the current window
    # group exposure since reset: [head, tail]
    group_exposure: jax.Array  # f32[2]
    # bounded log of recent interactions, one block per step (ring buffer over steps)
    log_user: jax.Array  # i32[L, U]
    log_items: jax.Array  # i32[L, U, K]
    log_clicks: jax.Array  # bool[L, U, K]
    log_valid: jax.Array  # bool[L] whether the block holds a step


@flax.struct.dataclass
class Observation:
    """What an agent may see: per-user history and item-side features (no true preferences)."""

    step: jax.Array  # i32[]
    user_active: jax.Array  # bool[U]
    user_id: jax.Array  # i32[U]
    user_history: jax.Array  # i32[U, H]
    user_recent_shown: jax.Array  # i32[U, R]
    item_alive: jax.Array  # bool[M]
    item_popularity: jax.Array  # f32[M]
    item_is_head: jax.Array  # bool[M]
    item_age: jax.Array  # f32[M]


@flax.struct.dataclass
class Noise:
    """Every random draw of one step, so two implementations can share them exactly."""

    click_uniform: jax.Array  # f32[U, K]
    choice_gumbel: jax.Array  # f32[U, K + 1]
    user_arrival_uniform: jax.Array  # f32[U]
    user_pool_index: jax.Array  # i32[U]
    attractiveness_normal: jax.Array  # f32[M]
    retire_uniform: jax.Array  # f32[M]
    arrival_uniform: jax.Array  # f32[M]
    new_item_normal: jax.Array  # f32[M, d]
    new_quality_normal: jax.Array  # f32[M]
    new_producer_uniform: jax.Array  # f32[M]


# parameters held as int32 (the rest are float32)
_PARAM_DTYPES = {
    "choice_model": jnp.int32,
    "producer_window": jnp.int32,
    "superstar_exit_step": jnp.int32,
    "relabel_every": jnp.int32,
    "max_steps": jnp.int32,
}

# name -> (low, high, inclusive-low); checked on host values (never on tracers).
_PARAM_RANGES = {
    "choice_model": (0, 1),
    "relevance_weight": (0.0, None),
    "quality_weight": (0.0, None),
    "popularity_beta": (0.0, None),
    "popularity_decay": (0.0, 1.0),
    "exposure_decay": (0.0, 0.999999),
    "attractiveness_rho": (0.0, 1.0),
    "attractiveness_std": (0.0, None),
    "ageing_weight": (0.0, None),
    "age_tau": (1e-6, None),
    "age_shape": (1e-6, None),
    "item_retire_prob": (0.0, 1.0),
    "item_arrival_prob": (0.0, 1.0),
    "new_item_quality_std": (0.0, None),
    "taste_drift": (0.0, 1.0),
    "temper_init": (0.0, None),
    "temper_max": (0.0, None),
    "temper_step_cost": (0.0, None),
    "temper_click_gain": (0.0, None),
    "user_arrival_prob": (0.0, 1.0),
    "producer_window": (1, None),
    "producer_exit_threshold": (0.0, None),
    "superstar_exit_step": (-1, None),
    "relabel_every": (1, None),
    "head_fraction": (0.0, 1.0),
    "relabel_hysteresis": (0.0, 1.0),
    "cost_head_count": (None, None),
    "cost_head_exposure": (None, None),
    "max_steps": (1, None),
}


def check_param(name: str, value, slate_size: int) -> None:
    """Validate one parameter value on the host; raise ConfigError naming ``env.<name>``."""
    if isinstance(value, jax.core.Tracer):
        return
    array = np.asarray(value)
    if not np.issubdtype(array.dtype, np.number):
        raise ConfigError(f"env.{name}", f"expected a number, got {value!r}")
    if not np.all(np.isfinite(array)):
        raise ConfigError(f"env.{name}", f"must be finite, got {value!r}")
    if name in _PARAM_DTYPES and np.any(array != np.round(array)):
        raise ConfigError(f"env.{name}", f"must be an integer, got {value!r}")
    if name == "examination":
        if array.shape[-1:] != (slate_size,) or np.any(array <= 0) or np.any(array > 1):
            raise ConfigError(
                "env.examination",
                f"expected {slate_size} probabilities in (0, 1] (one per slate position)",
            )
        return
    low, high = _PARAM_RANGES.get(name, (None, None))
    if low is not None and np.any(array < low):
        raise ConfigError(f"env.{name}", f"must be >= {low}, got {value!r}")
    if high is not None and np.any(array > high):
        raise ConfigError(f"env.{name}", f"must be <= {high}, got {value!r}")


def with_overrides(params: EnvParams, slate_size: int, **overrides) -> EnvParams:
    """``params`` with fields replaced, each cast to its dtype; unknown names and bad values raise
    ConfigError naming ``env.<name>`` (``slate_size`` checks an ``examination`` override)."""
    known = set(EnvParams.__dataclass_fields__) - {"world"}
    for name, value in overrides.items():
        if name not in known:
            raise ConfigError(f"env.{name}", f"unknown parameter; expected one of {sorted(known)}")
        check_param(name, value, slate_size)
    return params.replace(
        **{
            name: jnp.asarray(value, _PARAM_DTYPES.get(name, jnp.float32))
            for name, value in overrides.items()
        }
    )
