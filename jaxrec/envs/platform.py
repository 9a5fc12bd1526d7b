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
(truncated). The step is split into :meth:`PlatformEnv.sample_noise` (all random draws) and
:meth:`PlatformEnv.transition` (deterministic given the draws), so the NumPy reference in
:mod:`jaxrec.envs.reference` can be driven with exactly the same draws. The transition is a
composition of named pure stages (:mod:`jaxrec.envs.platform_stages`,
:mod:`jaxrec.envs.platform_item_stages`) that the reference mirrors one function per stage; the
data types and their validation live in :mod:`jaxrec.envs.platform_types`.

The simulation model, with every parameter's name and default, is written out as equations in
the README ("Simulation model").
"""

from __future__ import annotations

import inspect

import jax
import jax.numpy as jnp

from jaxrec import tomlconfig
from jaxrec.data.world import World
from jaxrec.envs import platform_item_stages as item_stages
from jaxrec.envs import platform_stages as stages
from jaxrec.envs.platform_types import (
    CHOICE_INDEPENDENT,
    CHOICE_MULTINOMIAL,
    EnvParams,
    EnvState,
    Noise,
    Observation,
    with_overrides,
)
from jaxrec.errors import ConfigError
from jaxrec.metrics.exposure import POSITION_WEIGHT_KINDS, position_weights

# The data types are defined in platform_types and kept importable from here, their public home.
__all__ = [
    "CHOICE_INDEPENDENT",
    "CHOICE_MULTINOMIAL",
    "PARAM_KEYS",
    "STATIC_KEYS",
    "EnvParams",
    "EnvState",
    "Noise",
    "Observation",
    "PlatformEnv",
]


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
        return with_overrides(params, self.slate_size, **overrides)

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
        is_head = item_stages.head_labels(
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
            [state.item_factors, stages.item_logit_offset(state, params)[:, None]], axis=1
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
        return stages.sample_noise(key, params, self.n_users, self.slate_size)

    def step(self, key: jax.Array, state: EnvState, action: jax.Array, params: EnvParams):
        """Serve ``action`` (i32[U, K] item ids, best first) to every user and advance one step.

        Returns ``(obs, state, reward f32[U], cost f32[U], terminated bool[U], truncated bool[U],
        info)``. Slate entries that are negative (an empty position), dead items, or any entry for
        an inactive user are not shown: they earn no exposure, clicks or cost.
        """
        return self.transition(state, action, self.sample_noise(key, params), params)

    def transition(self, state: EnvState, action: jax.Array, noise: Noise, params: EnvParams):
        """The deterministic step given all random draws (see :meth:`step`), stage by stage.

        Each stage is a pure function of :mod:`jaxrec.envs.platform_stages` or
        :mod:`jaxrec.envs.platform_item_stages` (shapes in their docstrings), mirrored one to one
        by the NumPy reference :mod:`jaxrec.envs.reference`.
        """
        slate = action.astype(jnp.int32)
        step_next = state.step + 1
        # the users respond to what they are shown
        shown = stages.shown_items(slate, state.item_alive, state.user_active)
        clicks = stages.choose_clicks(state, slate, shown, noise, params)
        score = stages.score_slates(slate, shown, clicks, state.item_is_head, params)
        tally = stages.tally_exposure(state, slate, shown, clicks, score.exposure)
        # users: taste drift, memory, churn, arrivals; the log records what was served
        user_factors = stages.drift_tastes(
            state.user_factors, state.item_factors, slate, clicks, params.taste_drift
        )
        history, recent_shown = stages.remember(
            state.user_history, state.user_recent_shown, slate, shown, clicks
        )
        temper, terminated = stages.lose_patience(
            state.user_temper, state.user_active, score.reward, params
        )
        users = stages.turn_over_users(
            state, user_factors, history, recent_shown, temper, terminated, noise, params
        )
        log = stages.write_log(state, slate, shown, clicks)
        # items and producers: dynamics, exits, arrivals, then the head labels
        drift = item_stages.evolve_items(
            state, tally.item_clicks, tally.item_exposure, noise, params
        )
        producers, producer_items = item_stages.producer_exits(
            state, tally.producer_exposure, drift.item_alive, step_next, params
        )
        items, arrived = item_stages.item_arrivals(
            state, drift, tally, producers.producer_active, producer_items, step_next, noise, params
        )
        labels = item_stages.relabel(
            state, items.item_popularity, items.item_alive, arrived, step_next, params
        )
        new_state = EnvState(
            step=step_next,
            group_exposure=tally.group_exposure,
            **users._asdict(),
            **log._asdict(),
            **items._asdict(),
            **producers._asdict(),
            **labels._asdict(),
        )
        time_up = jnp.broadcast_to(step_next >= params.max_steps, (self.n_users,))
        info = {
            "clicks": clicks,
            "shown": shown,
            "exposure": score.exposure,
            "head_in_slate": score.head_in_slate,
            "served": state.user_active,
        }
        return (
            self.observation(new_state),
            new_state,
            score.reward,
            score.cost,
            terminated,
            time_up & state.user_active,
            info,
        )


# The one list of a platform config's keys, derived from the code: the static (shape-defining)
# keys are PlatformEnv's constructor arguments, the traced ones EnvParams' fields. Simulation
# configs, sweep files and the closed loop all validate against these.
STATIC_KEYS = tuple(inspect.signature(PlatformEnv.__init__).parameters)[1:]
PARAM_KEYS = tuple(name for name in EnvParams.__dataclass_fields__ if name != "world")
