"""The simulated platform: a vectorized fairness CMDP over one world of users and items.

One *world* is a population of ``n_users`` user slots and a catalogue of ``n_items`` item slots that
share global state (popularity, exposure, group labels, producers). A step serves a slate of
``slate_size`` items to every active user at once; independent worlds are a ``jax.vmap`` on top.

API (gymnax-style, with cost as a first-class output)::

    env = PlatformEnv(n_users=1024, slate_size=10)
    params = env.default_params(world)
    obs, state = env.reset(key, params)
    obs, state, reward, cost, terminated, truncated, info = env.step(key, state, slate, params)

``reward``, ``cost``, ``terminated`` and ``truncated`` are per user slot (shape ``[n_users]``): a user
slot's episode ends when that user churns (terminated) or the world hits its time limit
(truncated). The step is split into :func:`sample_noise` (all random draws) and
:meth:`PlatformEnv.transition` (deterministic given the draws), so the NumPy reference in
:mod:`jaxrec.envs.reference` can be driven with exactly the same draws.

The simulation model, with every parameter's name and default, is written out as equations in
the README ("Simulation model").
"""

from __future__ import annotations

import inspect

import flax.struct
import jax
import jax.numpy as jnp

from jaxrec import tomlconfig
from jaxrec.data.world import World
from jaxrec.errors import ConfigError
from jaxrec.metrics.exposure import POSITION_WEIGHT_KINDS, position_weights

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


class PlatformEnv:
    """A world of users and items as a functional constrained MDP.

    Static configuration (fixes array shapes, so changing it recompiles):
      n_users: user slots served each step (U).
      slate_size: items per slate (K).
      history_len: clicked items remembered per user (H).
      seen_window: the last ``seen_window`` slates of a user are masked from recommendation.
      mask_history: mask items in the user's click history (already consumed).
      log_steps: steps kept in the interaction log ring buffer (L; 0 disables the log).
      label_history: head-label vectors kept (G).
    """

    def __init__(
        self,
        n_users: int = 1024,
        slate_size: int = 10,
        history_len: int = 10,
        seen_window: int = 0,
        mask_history: bool = True,
        log_steps: int = 0,
        label_history: int = 4,
    ):
        for name, value, low in (
            ("n_users", n_users, 1),
            ("slate_size", slate_size, 1),
            ("history_len", history_len, 1),
            ("seen_window", seen_window, 0),
            ("log_steps", log_steps, 0),
            ("label_history", label_history, 1),
        ):
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ConfigError(f"env.{name}", f"expected an integer >= {low}, got {value!r}")
        self.n_users = n_users
        self.slate_size = slate_size
        self.history_len = history_len
        self.seen_window = seen_window
        self.mask_history = tomlconfig.boolean(mask_history, "env.mask_history")
        self.log_steps = log_steps
        self.label_history = label_history

    def __repr__(self) -> str:
        return (
            f"PlatformEnv(n_users={self.n_users}, slate_size={self.slate_size}, "
            f"history_len={self.history_len}, seen_window={self.seen_window}, "
            f"mask_history={self.mask_history}, log_steps={self.log_steps})"
        )

    # ------------------------------------------------------------------ parameters
    def default_params(
        self, world: World, examination: str = "log", gamma: float = 0.85, **overrides
    ) -> EnvParams:
        """Default parameters for ``world``; keyword overrides are validated by name and range.

        ``examination`` names the position-bias shape (``"log"`` = 1/log2(1+k), Singh & Joachims
        2018; ``"cascade"`` = gamma^(k-1); see :func:`jaxrec.metrics.position_weights`); pass an
        ``examination=`` array through :meth:`replace_params` for any other shape.
        """
        world.validate()
        tomlconfig.choice(examination, "env.examination", POSITION_WEIGHT_KINDS)
        if examination != "log":
            tomlconfig.number(gamma, "env.gamma", low=0.0)
            if gamma >= 1.0:
                raise ConfigError("env.gamma", f"must be < 1, got {gamma}")
        if world.n_pool_users < self.n_users:
            raise ConfigError(
                "world.user_factors",
                f"the user pool has {world.n_pool_users} users but the env serves "
                f"n_users={self.n_users}; generate a world with at least that many users",
            )
        if world.n_items < self.slate_size:
            raise ConfigError(
                "env.slate_size",
                f"slate_size={self.slate_size} exceeds the catalogue of {world.n_items} items",
            )
        params = EnvParams(
            world=world, examination=position_weights(self.slate_size, examination, gamma)
        )
        return self.replace_params(params, **overrides)

    def replace_params(self, params: EnvParams, **overrides) -> EnvParams:
        """Return ``params`` with fields replaced; unknown names and bad values raise ConfigError."""
        known = set(EnvParams.__dataclass_fields__) - {"world"}
        for name, value in overrides.items():
            if name not in known:
                raise ConfigError(
                    f"env.{name}", f"unknown parameter; expected one of {sorted(known)}"
                )
            check_param(name, value, self.slate_size)
        return params.replace(
            **{
                name: jnp.asarray(value, _PARAM_DTYPES.get(name, jnp.float32))
                for name, value in overrides.items()
            }
        )

    # ------------------------------------------------------------------ reset
    def reset(self, key: jax.Array, params: EnvParams) -> tuple[Observation, EnvState]:
        """Start a world: users drawn from the pool, items and producers from ``params.world``."""
        world = params.world
        u, k, m = self.n_users, self.slate_size, world.n_items
        key_users, key_attr, key_age = jax.random.split(key, 3)
        user_id = jax.random.permutation(key_users, world.n_pool_users)[:u].astype(jnp.int32)
        attractiveness = params.attractiveness_std * jax.random.normal(key_attr, (m,))
        age = jax.random.uniform(key_age, (m,), maxval=params.age_tau)
        popularity = jnp.where(world.item_alive, world.item_popularity, 0.0)
        # The platform has a past: recent exposure starts proportional to popularity, at the
        # steady-state scale of the exposure the users will generate.
        steady_exposure = u * jnp.sum(params.examination) / (1.0 - params.exposure_decay)
        exposure_recent = steady_exposure * popularity / jnp.maximum(jnp.sum(popularity), 1e-12)
        is_head = head_labels(
            popularity, world.item_alive, jnp.zeros(m, bool), params.head_fraction, 0.0
        )
        lg = max(self.log_steps, 0)
        state = EnvState(
            step=jnp.zeros((), jnp.int32),
            user_factors=world.user_factors[user_id],
            user_id=user_id,
            user_active=jnp.ones(u, bool),
            user_temper=jnp.full(u, params.temper_init, jnp.float32),
            user_history=jnp.full((u, self.history_len), -1, jnp.int32),
            user_recent_shown=jnp.full((u, self.seen_window * k), -1, jnp.int32),
            user_steps=jnp.zeros(u, jnp.int32),
            item_factors=world.item_factors,
            item_quality=world.item_quality,
            item_attractiveness=attractiveness.astype(jnp.float32),
            item_producer=world.item_producer,
            item_alive=world.item_alive,
            item_age=age.astype(jnp.float32),
            item_arrival_step=jnp.zeros(m, jnp.int32),
            item_first_impression_step=jnp.full(m, -1, jnp.int32),
            item_popularity=popularity.astype(jnp.float32),
            item_exposure=jnp.zeros(m, jnp.float32),
            item_exposure_recent=exposure_recent.astype(jnp.float32),
            item_impressions=jnp.zeros(m, jnp.float32),
            item_clicks=jnp.zeros(m, jnp.float32),
            item_is_head=is_head,
            label_history=jnp.broadcast_to(is_head, (self.label_history, m)),
            producer_active=jnp.ones(world.n_producers, bool),
            producer_exposure=jnp.zeros(world.n_producers, jnp.float32),
            producer_window_exposure=jnp.zeros(world.n_producers, jnp.float32),
            group_exposure=jnp.zeros(2, jnp.float32),
            log_user=jnp.full((lg, u), -1, jnp.int32),
            log_items=jnp.full((lg, u, k), -1, jnp.int32),
            log_clicks=jnp.zeros((lg, u, k), bool),
            log_valid=jnp.zeros(lg, bool),
        )
        return self.observation(state), state

    # ------------------------------------------------------------------ views
    def observation(self, state: EnvState) -> Observation:
        return Observation(
            step=state.step,
            user_active=state.user_active,
            user_id=state.user_id,
            user_history=state.user_history,
            user_recent_shown=state.user_recent_shown,
            item_alive=state.item_alive,
            item_popularity=state.item_popularity,
            item_is_head=state.item_is_head,
            item_age=state.item_age,
        )

    def click_logits(self, state: EnvState, params: EnvParams) -> jax.Array:
        """The click logit of every item for every user at position weight 1: f32[U, M].

        ``z = w_r u.x + w_q (q + a) + beta log(1 + n) + w_g log g(age) + bias``. Sorting by it
        maximises expected clicks (rearrangement inequality), which makes it the oracle scorer.
        Computed as one matmul ``[w_r u, 1] @ [x, offset]^T``, so the user-independent offset costs
        no extra pass over the U x M scores.
        """
        u = state.user_factors.shape[0]
        users = jnp.concatenate(
            [params.relevance_weight * state.user_factors, jnp.ones((u, 1), jnp.float32)], axis=1
        )
        items = jnp.concatenate(
            [state.item_factors, item_logit_offset(state, params)[:, None]], axis=1
        )
        return users @ items.T

    def blocked_items(self, obs: Observation) -> jax.Array:
        """Per-user item ids that may not be recommended, ``n_items`` = none: i32[U, H + R].

        The user's recent clicks (``mask_history``) and the items of their last ``seen_window``
        slates. Padding (-1) becomes ``n_items``, an id that scatters drop (a negative id would
        wrap around to the last item).
        """
        parts = []
        if self.mask_history:
            parts.append(obs.user_history)
        if self.seen_window:
            parts.append(obs.user_recent_shown)
        if not parts:
            return jnp.zeros((obs.user_history.shape[0], 0), jnp.int32)
        ids = jnp.concatenate(parts, axis=1)
        return jnp.where(ids >= 0, ids, obs.item_alive.shape[0])

    def action_mask(self, obs: Observation) -> jax.Array:
        """Items that may be recommended to each user: bool[U, M].

        Dead items are masked; so are items the user clicked recently (``mask_history``) and
        items shown in the user's last ``seen_window`` slates.
        """
        u, m = obs.user_history.shape[0], obs.item_alive.shape[0]
        rows = jnp.arange(u)[:, None]
        blocked = jnp.zeros((u, m), bool).at[rows, self.blocked_items(obs)].set(True, mode="drop")
        return obs.item_alive[None, :] & ~blocked

    # ------------------------------------------------------------------ step
    def sample_noise(self, key: jax.Array, params: EnvParams) -> Noise:
        """Draw every random number one step needs."""
        u, k = self.n_users, self.slate_size
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

    def step(self, key: jax.Array, state: EnvState, action: jax.Array, params: EnvParams):
        """Serve ``action`` (i32[U, K] item ids, best first) to every user and advance one step.

        Returns ``(obs, state, reward f32[U], cost f32[U], terminated bool[U], truncated bool[U],
        info)``. Slate entries that are negative (an empty position), dead items, or any entry for
        an inactive user are not shown: they earn no exposure, clicks or cost.
        """
        return self.transition(state, action, self.sample_noise(key, params), params)

    def transition(self, state: EnvState, action: jax.Array, noise: Noise, params: EnvParams):
        """The deterministic step given all random draws (see :meth:`step`)."""
        world = params.world
        u, k = self.n_users, self.slate_size
        slate = action.astype(jnp.int32)
        # a negative id is an empty position (a re-ranker may leave one rather than break a floor)
        shown = shown_items(slate, state.item_alive, state.user_active)  # bool[U, K]

        # --- user response: examination x click probability -----------------------------
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
        clicks = clicks & shown
        click_f = clicks.astype(jnp.float32)
        reward = click_f.sum(axis=1)

        # --- exposure accounting and cost ------------------------------------------------
        exposure = jnp.where(shown, examine, 0.0)  # position-weighted, [U, K]
        head_in_slate = state.item_is_head[slate] & shown
        cost = params.cost_head_count * head_in_slate.sum(axis=1) + params.cost_head_exposure * (
            jnp.where(head_in_slate, exposure, 0.0).sum(axis=1)
        )
        flat_items = slate.reshape(-1)
        item_step_exposure = jnp.zeros(world.n_items).at[flat_items].add(exposure.reshape(-1))
        item_step_impressions = (
            jnp.zeros(world.n_items).at[flat_items].add(shown.reshape(-1).astype(jnp.float32))
        )
        item_step_clicks = jnp.zeros(world.n_items).at[flat_items].add(click_f.reshape(-1))
        producer_step_exposure = (
            jnp.zeros(world.n_producers).at[state.item_producer].add(item_step_exposure)
        )
        head_exposure = jnp.sum(jnp.where(state.item_is_head, item_step_exposure, 0.0))
        group_exposure = state.group_exposure + jnp.stack(
            [head_exposure, item_step_exposure.sum() - head_exposure]
        )
        first_impression = jnp.where(
            (state.item_first_impression_step < 0) & (item_step_impressions > 0),
            state.step,
            state.item_first_impression_step,
        )

        # --- users: taste drift, history, churn, arrivals -----------------------------------
        n_clicks = reward
        clicked_mean = (
            jnp.einsum("uk,ukd->ud", click_f, item_vectors) / jnp.maximum(n_clicks, 1.0)[:, None]
        )
        drifted = state.user_factors + params.taste_drift * (clicked_mean - state.user_factors)
        old_norm = jnp.linalg.norm(state.user_factors, axis=1, keepdims=True)
        new_norm = jnp.linalg.norm(drifted, axis=1, keepdims=True)
        drifted = drifted * old_norm / jnp.maximum(new_norm, 1e-12)
        user_factors = jnp.where((n_clicks > 0)[:, None], drifted, state.user_factors)
        history = push_history(state.user_history, jnp.where(clicks, slate, -1))
        recent_shown = state.user_recent_shown
        if self.seen_window:
            recent_shown = jnp.concatenate(
                [recent_shown[:, k:], jnp.where(shown, slate, -1)], axis=1
            )
        temper = jnp.minimum(
            params.temper_max,
            state.user_temper - params.temper_step_cost + params.temper_click_gain * n_clicks,
        )
        terminated = state.user_active & (temper < 0.0)
        active = state.user_active & ~terminated
        arrive = ~state.user_active & (noise.user_arrival_uniform < params.user_arrival_prob)
        user_id = jnp.where(arrive, noise.user_pool_index, state.user_id)
        user_factors = jnp.where(arrive[:, None], world.user_factors[user_id], user_factors)
        temper = jnp.where(arrive, params.temper_init, temper)
        reset_user = arrive | terminated
        history = jnp.where(reset_user[:, None], -1, history)
        recent_shown = jnp.where(reset_user[:, None], -1, recent_shown)
        user_steps = jnp.where(reset_user, 0, state.user_steps + state.user_active)
        active = active | arrive

        # --- logging (before items change, so the log holds what was served) -------------
        log_user, log_items, log_clicks, log_valid = (
            state.log_user,
            state.log_items,
            state.log_clicks,
            state.log_valid,
        )
        if self.log_steps:
            slot = state.step % self.log_steps
            log_user = log_user.at[slot].set(jnp.where(state.user_active, state.user_id, -1))
            log_items = log_items.at[slot].set(jnp.where(shown, slate, -1))
            log_clicks = log_clicks.at[slot].set(clicks)
            log_valid = log_valid.at[slot].set(True)

        # --- items: popularity, drift, ageing, retirement, arrivals --------------------------
        popularity = params.popularity_decay * state.item_popularity + item_step_clicks
        exposure_recent = params.exposure_decay * state.item_exposure_recent + item_step_exposure
        rho = params.attractiveness_rho
        attractiveness = (
            rho * state.item_attractiveness
            + params.attractiveness_std * jnp.sqrt(1.0 - rho**2) * noise.attractiveness_normal
        )
        age = state.item_age + 1.0
        alive = state.item_alive & (noise.retire_uniform >= params.item_retire_prob)

        # producers: exit below the outside option, and the optional forced superstar exit
        step_next = state.step + 1
        window_exposure = state.producer_window_exposure + producer_step_exposure
        producer_exposure = state.producer_exposure + producer_step_exposure
        producer_items = (
            jnp.zeros(world.n_producers).at[state.item_producer].add(alive.astype(jnp.float32))
        )
        fair_share = window_exposure.sum() * producer_items / jnp.maximum(producer_items.sum(), 1)
        check = (step_next % jnp.maximum(params.producer_window, 1)) == 0
        leaves = (
            check
            & state.producer_active
            & (window_exposure < params.producer_exit_threshold * fair_share)
        )
        superstar = jnp.argmax(jnp.where(state.producer_active, producer_exposure, -1.0))
        leaves = leaves | (
            (step_next == params.superstar_exit_step) & (jnp.arange(world.n_producers) == superstar)
        )
        producer_active = state.producer_active & ~leaves
        window_exposure = jnp.where(check, 0.0, window_exposure)
        alive = alive & producer_active[state.item_producer]

        # arrivals into empty slots, from a live producer chosen by catalogue share
        arrive_item = ~alive & (noise.arrival_uniform < params.item_arrival_prob)
        weight = jnp.where(producer_active, producer_items + 1.0, 0.0)
        any_producer = weight.sum() > 0
        arrive_item = arrive_item & any_producer
        cdf = jnp.cumsum(weight) / jnp.maximum(weight.sum(), 1e-12)
        new_producer = jnp.searchsorted(cdf, noise.new_producer_uniform, side="right")
        new_producer = jnp.clip(new_producer, 0, world.n_producers - 1).astype(jnp.int32)
        factor_scale = jnp.sqrt(jnp.mean(world.item_factors**2, axis=0))  # per-dimension RMS
        new_factors = noise.new_item_normal * factor_scale[None, :]
        item_factors = jnp.where(arrive_item[:, None], new_factors, state.item_factors)
        item_quality = jnp.where(
            arrive_item, params.new_item_quality_std * noise.new_quality_normal, state.item_quality
        )
        item_producer = jnp.where(arrive_item, new_producer, state.item_producer)
        attractiveness = jnp.where(arrive_item, 0.0, attractiveness)
        age = jnp.where(arrive_item, 0.0, age)
        popularity = jnp.where(alive, popularity, 0.0)
        exposure_recent = jnp.where(alive, exposure_recent, 0.0)
        arrival_step = jnp.where(arrive_item, step_next, state.item_arrival_step)
        first_impression = jnp.where(arrive_item, -1, first_impression)
        item_exposure = jnp.where(arrive_item, 0.0, state.item_exposure + item_step_exposure)
        impressions = jnp.where(arrive_item, 0.0, state.item_impressions + item_step_impressions)
        item_clicks = jnp.where(arrive_item, 0.0, state.item_clicks + item_step_clicks)
        alive = alive | arrive_item

        # --- group relabelling -------------------------------------------------------------
        relabel = (step_next % jnp.maximum(params.relabel_every, 1)) == 0
        relabelled = head_labels(
            popularity,
            alive,
            state.item_is_head,
            params.head_fraction,
            params.relabel_hysteresis,
        )
        is_head = jnp.where(relabel, relabelled, state.item_is_head & alive & ~arrive_item)
        label_history = jnp.where(
            relabel,
            jnp.concatenate([state.label_history[1:], is_head[None]], axis=0),
            state.label_history,
        )

        new_state = EnvState(
            step=step_next,
            user_factors=user_factors,
            user_id=user_id,
            user_active=active,
            user_temper=temper,
            user_history=history,
            user_recent_shown=recent_shown,
            user_steps=user_steps,
            item_factors=item_factors,
            item_quality=item_quality,
            item_attractiveness=attractiveness,
            item_producer=item_producer,
            item_alive=alive,
            item_age=age,
            item_arrival_step=arrival_step,
            item_first_impression_step=first_impression,
            item_popularity=popularity,
            item_exposure=item_exposure,
            item_exposure_recent=exposure_recent,
            item_impressions=impressions,
            item_clicks=item_clicks,
            item_is_head=is_head,
            label_history=label_history,
            producer_active=producer_active,
            producer_exposure=producer_exposure,
            producer_window_exposure=window_exposure,
            group_exposure=group_exposure,
            log_user=log_user,
            log_items=log_items,
            log_clicks=log_clicks,
            log_valid=log_valid,
        )
        truncated = jnp.broadcast_to(step_next >= params.max_steps, (u,)) & state.user_active
        info = {
            "clicks": clicks,
            "shown": shown,
            "exposure": exposure,
            "head_in_slate": head_in_slate,
            "served": state.user_active,
        }
        return self.observation(new_state), new_state, reward, cost, terminated, truncated, info


# The one list of a platform config's keys, derived from the code: the static (shape-defining)
# keys are PlatformEnv's constructor arguments, the traced ones EnvParams' fields. Simulation
# configs, sweep files and the closed loop all validate against these.
STATIC_KEYS = tuple(inspect.signature(PlatformEnv.__init__).parameters)[1:]
PARAM_KEYS = tuple(name for name in EnvParams.__dataclass_fields__ if name != "world")

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
    import numpy as np

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
    """Which slate positions i32[U, K] the platform shows: live items to active users, bool[U, K]."""
    return (slate >= 0) & item_alive[slate] & user_active[:, None]


def push_history(history: jax.Array, new_items: jax.Array) -> jax.Array:
    """Append each row's new items (``-1`` = none) to its history, keeping the newest H.

    Args:
      history: i32[U, H], oldest first, ``-1`` padding at the front.
      new_items: i32[U, K] in slate order; ``-1`` entries are skipped.
    Returns:
      i32[U, H].
    """
    h = history.shape[1]
    combined = jnp.concatenate([history, new_items], axis=1)  # [U, H + K]
    valid = combined >= 0
    # number of valid entries at or after each position; keep the newest h of them
    from_end = jnp.flip(jnp.cumsum(jnp.flip(valid, axis=1), axis=1), axis=1)
    target = jnp.where(valid & (from_end <= h), h - from_end, h)  # h = dropped
    rows = jnp.arange(history.shape[0])[:, None]
    return jnp.full_like(history, -1).at[rows, target].set(combined, mode="drop")


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
