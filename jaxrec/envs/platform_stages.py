"""The platform's step as named pure stages, composed by :meth:`PlatformEnv.transition`.

Each stage takes the state it reads, the parameters and the random draws it needs, and returns
new pieces; none has side effects, so each can be compared alone with its loop-based NumPy mirror
in :mod:`jaxrec.envs.reference_stages` (same function name). In step order, serving and users here:

1. :func:`shown_items` - which slate positions are actually shown.
2. :func:`choose_clicks` - the users' clicks (examination x click probability, or a multinomial
   logit choice).
3. :func:`score_slates` - reward, cost and position-weighted exposure per user.
4. :func:`tally_exposure` - exposure, impressions and clicks per item, producer and group.
5. :func:`drift_tastes` - user tastes move toward what they clicked.
6. :func:`remember` - click history and recently shown items.
7. :func:`lose_patience` - patience budget and churn.
8. :func:`turn_over_users` - empty slots refilled from the user pool.
9. :func:`write_log` - the interaction log ring buffer (what was served, before items change).

then items and producers in :mod:`jaxrec.envs.platform_item_stages`:

10. ``evolve_items`` - popularity and recent exposure decay, attractiveness drift, ageing,
    retirement.
11. ``producer_exits`` - producers below the outside option (or the superstar) leave.
12. ``item_arrivals`` - new items in empty slots; counters of replaced items restart.
13. ``relabel`` - head / long-tail labels every ``relabel_every`` steps.

Shapes: U user slots, K slate positions, M item slots, P producers, d latent dimensions, H history,
R recently shown, L logged steps.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxrec.envs.platform_types import CHOICE_MULTINOMIAL, EnvParams, EnvState, Noise


class SlateScore(NamedTuple):
    """Per-user outcome of one served slate."""

    reward: jax.Array  # f32[U] clicks
    cost: jax.Array  # f32[U] head items (count and position-weighted exposure)
    exposure: jax.Array  # f32[U, K] examination probability of shown positions, else 0
    head_in_slate: jax.Array  # bool[U, K] shown head items


class ExposureTally(NamedTuple):
    """This step's exposure accounting; the last two fields are updated state pieces."""

    item_exposure: jax.Array  # f32[M] position-weighted exposure this step
    item_impressions: jax.Array  # f32[M] impressions this step
    item_clicks: jax.Array  # f32[M] clicks this step
    producer_exposure: jax.Array  # f32[P] exposure this step
    group_exposure: jax.Array  # f32[2] [head, tail] since reset
    item_first_impression_step: jax.Array  # i32[M]


class UserPieces(NamedTuple):
    """The user fields of :class:`EnvState` after a step."""

    user_factors: jax.Array  # f32[U, d]
    user_id: jax.Array  # i32[U]
    user_active: jax.Array  # bool[U]
    user_temper: jax.Array  # f32[U]
    user_history: jax.Array  # i32[U, H]
    user_recent_shown: jax.Array  # i32[U, R]
    user_steps: jax.Array  # i32[U]


class LogPieces(NamedTuple):
    """The interaction log fields of :class:`EnvState`."""

    log_user: jax.Array  # i32[L, U]
    log_items: jax.Array  # i32[L, U, K]
    log_clicks: jax.Array  # bool[L, U, K]
    log_valid: jax.Array  # bool[L]


def sample_noise(key: jax.Array, params: EnvParams, n_users: int, slate_size: int) -> Noise:
    """Draw every random number one step needs (U = ``n_users``, K = ``slate_size``)."""
    u, k = n_users, slate_size
    m, d = params.world.n_items, params.world.dim
    keys = jax.random.split(key, 10)
    return Noise(
        click_uniform=jax.random.uniform(keys[0], (u, k)),
        choice_gumbel=jax.random.gumbel(keys[1], (u, k + 1)),
        user_arrival_uniform=jax.random.uniform(keys[2], (u,)),
        user_pool_index=jax.random.randint(keys[3], (u,), 0, params.world.n_pool_users),
        attractiveness_normal=jax.random.normal(keys[4], (m,)),
        retire_uniform=jax.random.uniform(keys[5], (m,)),
        arrival_uniform=jax.random.uniform(keys[6], (m,)),
        new_item_normal=jax.random.normal(keys[7], (m, d)),
        new_quality_normal=jax.random.normal(keys[8], (m,)),
        new_producer_uniform=jax.random.uniform(keys[9], (m,)),
    )


def item_logit_offset(state: EnvState, params: EnvParams) -> jax.Array:
    """The user-independent part of the click logit: f32[M].

    ``w_q (q + a) + beta (log(1 + n) - mean_live log(1 + n)) - w_g (age / tau)^shape + bias``.
    The popularity term is centred on the live catalogue's mean, so it moves clicks toward
    relatively popular items without raising every item's click rate as the population (and hence
    every count) grows. Dead items are not masked here; policies mask them with
    :meth:`PlatformEnv.action_mask`.
    """
    log_ageing = -((state.item_age / params.age_tau) ** params.age_shape)
    log_popularity = jnp.log1p(state.item_popularity)
    n_alive = jnp.maximum(state.item_alive.sum(), 1)
    mean_log_popularity = jnp.where(state.item_alive, log_popularity, 0.0).sum() / n_alive
    return (
        params.quality_weight * (state.item_quality + state.item_attractiveness)
        + params.popularity_beta * (log_popularity - mean_log_popularity)
        + params.ageing_weight * log_ageing
        + params.click_bias
    )


def shown_items(slate: jax.Array, item_alive: jax.Array, user_active: jax.Array) -> jax.Array:
    """Which slate positions i32[U, K] the platform shows: live items to active users, bool[U, K].

    A negative id is an empty position (a re-ranker may leave one rather than break a floor).
    """
    return (slate >= 0) & item_alive[slate] & user_active[:, None]


def choose_clicks(
    state: EnvState, slate: jax.Array, shown: jax.Array, noise: Noise, params: EnvParams
) -> jax.Array:
    """The users' clicks on their slates i32[U, K] (shown: bool[U, K]): bool[U, K].

    Independent clicks with probability ``examination[k] * sigmoid(logit)``, or (``choice_model``
    = 1) at most one click, the argmax of ``logit + log examination + Gumbel`` over the shown items
    and an outside option of utility ``no_click_utility``. Reads the state's user and item factors
    and the item fields of :func:`item_logit_offset`.
    """
    u, k = slate.shape
    item_vectors = state.item_factors[slate]  # [U, K, d]
    relevance = jnp.einsum("ud,ukd->uk", state.user_factors, item_vectors)
    logit = params.relevance_weight * relevance + item_logit_offset(state, params)[slate]
    examine = jnp.broadcast_to(params.examination, (u, k))
    p_independent = examine * jax.nn.sigmoid(logit)
    clicks_independent = noise.click_uniform < p_independent
    # Multinomial logit over the shown items plus an outside option (slot K).
    utility = jnp.where(shown, logit + jnp.log(examine), -jnp.inf)
    utility = jnp.concatenate([utility, jnp.full((u, 1), params.no_click_utility)], axis=1)
    choice = jnp.argmax(utility + noise.choice_gumbel, axis=1)
    clicks_multinomial = choice[:, None] == jnp.arange(k)[None, :]
    clicks = jnp.where(
        params.choice_model == CHOICE_MULTINOMIAL, clicks_multinomial, clicks_independent
    )
    return clicks & shown


def score_slates(
    slate: jax.Array,
    shown: jax.Array,
    clicks: jax.Array,
    item_is_head: jax.Array,
    params: EnvParams,
) -> SlateScore:
    """Reward (clicks), cost (head items) and exposure of each user's slate i32[U, K].

    ``cost = cost_head_count * #shown head items + cost_head_exposure * their exposure``.
    """
    u, k = slate.shape
    examine = jnp.broadcast_to(params.examination, (u, k))
    reward = clicks.astype(jnp.float32).sum(axis=1)
    exposure = jnp.where(shown, examine, 0.0)  # position-weighted
    head_in_slate = item_is_head[slate] & shown
    cost = params.cost_head_count * head_in_slate.sum(axis=1) + params.cost_head_exposure * (
        jnp.where(head_in_slate, exposure, 0.0).sum(axis=1)
    )
    return SlateScore(reward, cost, exposure, head_in_slate)


def tally_exposure(
    state: EnvState, slate: jax.Array, shown: jax.Array, clicks: jax.Array, exposure: jax.Array
) -> ExposureTally:
    """Sum this step's exposure f32[U, K], impressions and clicks per item, producer and group.

    Reads ``state.item_is_head``, ``item_producer``, ``group_exposure``,
    ``item_first_impression_step`` (set to ``state.step`` on an item's first impression) and
    ``step``.
    """
    m, p = state.item_is_head.shape[0], state.producer_active.shape[0]
    flat_items = slate.reshape(-1)
    item_exposure = jnp.zeros(m).at[flat_items].add(exposure.reshape(-1))
    impressions = jnp.zeros(m).at[flat_items].add(shown.reshape(-1).astype(jnp.float32))
    item_clicks = jnp.zeros(m).at[flat_items].add(clicks.astype(jnp.float32).reshape(-1))
    producer_exposure = jnp.zeros(p).at[state.item_producer].add(item_exposure)
    head_exposure = jnp.sum(jnp.where(state.item_is_head, item_exposure, 0.0))
    group_exposure = state.group_exposure + jnp.stack(
        [head_exposure, item_exposure.sum() - head_exposure]
    )
    first_impression = jnp.where(
        (state.item_first_impression_step < 0) & (impressions > 0),
        state.step,
        state.item_first_impression_step,
    )
    return ExposureTally(
        item_exposure, impressions, item_clicks, producer_exposure, group_exposure, first_impression
    )


def drift_tastes(
    user_factors: jax.Array,
    item_factors: jax.Array,
    slate: jax.Array,
    clicks: jax.Array,
    taste_drift: jax.Array,
) -> jax.Array:
    """Tastes f32[U, d] move toward the mean clicked item (item_factors f32[M, d]): f32[U, d].

    ``u <- |u| normalise(u + eta (mean clicked x - u))`` for users with a click; the norm is kept
    so drift changes what a user likes, not how strongly.
    """
    item_vectors = item_factors[slate]  # [U, K, d]
    click_f = clicks.astype(jnp.float32)
    n_clicks = click_f.sum(axis=1)
    clicked_mean = (
        jnp.einsum("uk,ukd->ud", click_f, item_vectors) / jnp.maximum(n_clicks, 1.0)[:, None]
    )
    drifted = user_factors + taste_drift * (clicked_mean - user_factors)
    old_norm = jnp.linalg.norm(user_factors, axis=1, keepdims=True)
    new_norm = jnp.linalg.norm(drifted, axis=1, keepdims=True)
    drifted = drifted * old_norm / jnp.maximum(new_norm, 1e-12)
    return jnp.where((n_clicks > 0)[:, None], drifted, user_factors)


def push_history(history: jax.Array, new_items: jax.Array) -> jax.Array:
    """Append each row's new items (``-1`` = none) to its history, keeping the newest H.

    Args:
      history: i32[U, H], oldest first, ``-1`` padding at the front.
      new_items: i32[U, K] in slate order; ``-1`` entries are skipped.
    Returns:
      i32[U, H].

    >>> import jax.numpy as jnp
    >>> push_history(jnp.array([[-1, 3, 5], [-1, -1, -1]]), jnp.array([[7, -1], [-1, 2]])).tolist()
    [[3, 5, 7], [-1, -1, 2]]
    """
    h = history.shape[1]
    combined = jnp.concatenate([history, new_items], axis=1)  # [U, H + K]
    valid = combined >= 0
    # number of valid entries at or after each position; keep the newest h of them
    from_end = jnp.flip(jnp.cumsum(jnp.flip(valid, axis=1), axis=1), axis=1)
    target = jnp.where(valid & (from_end <= h), h - from_end, h)  # h = dropped
    rows = jnp.arange(history.shape[0])[:, None]
    return jnp.full_like(history, -1).at[rows, target].set(combined, mode="drop")


def remember(
    history: jax.Array,
    recent_shown: jax.Array,
    slate: jax.Array,
    shown: jax.Array,
    clicks: jax.Array,
) -> tuple[jax.Array, jax.Array]:
    """Clicked items join the history i32[U, H]; shown items the recent window i32[U, R].

    The window holds the last R / K slates (R = 0 keeps none). Returns ``(history, recent_shown)``.
    """
    k = slate.shape[1]
    history = push_history(history, jnp.where(clicks, slate, -1))
    if recent_shown.shape[1]:
        recent_shown = jnp.concatenate([recent_shown[:, k:], jnp.where(shown, slate, -1)], axis=1)
    return history, recent_shown


def lose_patience(
    user_temper: jax.Array, user_active: jax.Array, n_clicks: jax.Array, params: EnvParams
) -> tuple[jax.Array, jax.Array]:
    """Patience f32[U] pays ``temper_step_cost``, gains ``temper_click_gain`` per click f32[U].

    Capped at ``temper_max``; an active user (bool[U]) below zero churns. Returns
    ``(temper f32[U], terminated bool[U])``.
    """
    temper = jnp.minimum(
        params.temper_max,
        user_temper - params.temper_step_cost + params.temper_click_gain * n_clicks,
    )
    return temper, user_active & (temper < 0.0)


def turn_over_users(
    state: EnvState,
    user_factors: jax.Array,
    history: jax.Array,
    recent_shown: jax.Array,
    temper: jax.Array,
    terminated: jax.Array,
    noise: Noise,
    params: EnvParams,
) -> UserPieces:
    """Churned users leave; each empty slot is refilled with chance ``user_arrival_prob``.

    A newcomer is pool user ``noise.user_pool_index`` with the pool's tastes and ``temper_init``;
    leavers and newcomers start with an empty history and window. The factors, history, window,
    temper and ``terminated`` are this step's (shapes as :class:`UserPieces`); the state gives
    ``user_active``, ``user_id`` and ``user_steps`` before the step.
    """
    active = state.user_active & ~terminated
    arrive = ~state.user_active & (noise.user_arrival_uniform < params.user_arrival_prob)
    user_id = jnp.where(arrive, noise.user_pool_index, state.user_id)
    user_factors = jnp.where(arrive[:, None], params.world.user_factors[user_id], user_factors)
    temper = jnp.where(arrive, params.temper_init, temper)
    reset_user = arrive | terminated
    history = jnp.where(reset_user[:, None], -1, history)
    recent_shown = jnp.where(reset_user[:, None], -1, recent_shown)
    user_steps = jnp.where(reset_user, 0, state.user_steps + state.user_active)
    return UserPieces(
        user_factors, user_id, active | arrive, temper, history, recent_shown, user_steps
    )


def write_log(state: EnvState, slate: jax.Array, shown: jax.Array, clicks: jax.Array) -> LogPieces:
    """Write what was served (i32[U, K], shown and clicks bool[U, K]) to log slot ``step % L``.

    Inactive users log ``-1``, unshown positions item ``-1``; L = 0 (no log) returns the empty log.
    """
    log = LogPieces(state.log_user, state.log_items, state.log_clicks, state.log_valid)
    log_steps = state.log_valid.shape[0]
    if not log_steps:
        return log
    slot = state.step % log_steps
    return LogPieces(
        log.log_user.at[slot].set(jnp.where(state.user_active, state.user_id, -1)),
        log.log_items.at[slot].set(jnp.where(shown, slate, -1)),
        log.log_clicks.at[slot].set(clicks),
        log.log_valid.at[slot].set(True),
    )
