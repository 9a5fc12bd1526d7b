"""Training that matches deployment: many continuing worlds of the platform train one agent.

:class:`WorldsAgentEnv` folds ``n_worlds`` independent worlds of
:class:`jaxrec.agents.platform_cpo.PlatformAgentEnv` into one batch of ``n_worlds * n_users``
user slots (``vmap`` over worlds inside the step), so :func:`jaxrec.agents.train.make_train`
trains CPO or PPO-Lagrangian on all of them with one update per iteration. It is *continuing*:
``make_train`` resets the worlds once and each iteration serves the next ``episode_len`` steps of
the same worlds, so popularity, labels and producers carry over, and the regime a long test run
reaches (after many relabels) is in the training data. :func:`reset_worlds` starts fresh worlds,
for an optional periodic reset every few iterations
(:func:`jaxrec.experiments.fcpo.train_grid`'s ``reset_every``) that keeps every world age
of the test horizon in the data. :func:`serve_long_run` serves a trained agent (or a re-ranker on
top of its scores: quota, frozen labels, FairCo) for a long test, on a fresh world or on a
training world from where training left it (:meth:`WorldsAgentEnv.world`).

Cost is reported per *served* slate: a world's user slots that are empty this step (a user
churned and no new one arrived yet) cost nothing, so the per-slot mean would understate head items
per shown slate; the step rescales each world's costs by ``n_users / n_served``, which makes the
mean episode cost ``J_C`` equal to the head items per served slate summed over the segment. A
limit of ``head_per_slate * episode_len`` then holds the quantity the long run measures.

Memory (one iteration, float32): the trajectory keeps ``T x W x U`` clicked-item histories of
``H x d`` floats plus actions, so at ``T=50, H=5, d=8, d+1`` actions it is about
``T W U (H d + d + 7) x 4`` bytes: 46 MB at ``W U = 4096`` and 0.73 GB at 65,536 user-episodes
(advantages, returns and the Fisher batch add a few times the per-step scalars);
:func:`trajectory_bytes` computes it for a configuration.
"""

from __future__ import annotations

from collections.abc import Callable

import flax.struct
import jax
import jax.numpy as jnp

from jaxrec.agents.fairness import (
    FairCoParams,
    fairco_memory,
    fairco_slate,
    fairco_update,
    freeze_labels,
    frozen_head,
    quota_slate,
)
from jaxrec.agents.platform_cpo import AgentObservation, PlatformAgentEnv
from jaxrec.envs.platform_types import EnvParams, EnvState
from jaxrec.errors import ConfigError
from jaxrec.metrics import gini
from jaxrec.ops.selection import select_slate


class WorldsAgentEnv:
    """``n_worlds`` continuing platform worlds seen as one agent env of ``n_worlds * n_users``
    users (see the module docstring). Observations keep a leading world axis on ``features``
    f32[W, M, d + 1], ``mask`` bool[W, U, M] and ``platform``; ``history`` is folded to
    f32[W * U, H, d], the batch the policy acts on."""

    continuing = True

    def __init__(self, base: PlatformAgentEnv, n_worlds: int):
        if isinstance(n_worlds, bool) or not isinstance(n_worlds, int) or n_worlds < 1:
            raise ConfigError("n_worlds", f"must be an integer >= 1, got {n_worlds!r}")
        self.base = base
        self.n_worlds = n_worlds
        self.users_per_world = base.n_users
        self.n_users = n_worlds * base.n_users
        self.history_len = base.history_len
        self.dim = base.dim
        self.action_dim = base.action_dim
        self.episode_len = base.episode_len

    def _fold(self, obs: AgentObservation) -> AgentObservation:
        return obs.replace(history=obs.history.reshape(self.n_users, *obs.history.shape[2:]))

    def reset(self, key: jax.Array, params: EnvParams) -> tuple[AgentObservation, EnvState]:
        """Fresh worlds (each after the base env's burn-in): state leaves have a world axis."""
        keys = jax.random.split(key, self.n_worlds)
        obs, state = jax.vmap(self.base.reset, in_axes=(0, None))(keys, params)
        return self._fold(obs), state

    def select(self, action: jax.Array, obs: AgentObservation, params: EnvParams) -> jax.Array:
        """Slates i32[W * U, K]: each world's best allowed items by its own features @ w."""
        action = action.reshape(self.n_worlds, self.users_per_world, -1)
        k = self.base.platform.slate_size
        slates = jax.vmap(lambda a, f, m: select_slate(a @ f.T, m, k))(
            action, obs.features, obs.mask
        )
        return slates.reshape(self.n_users, k)

    def step(self, key: jax.Array, state: EnvState, slates: jax.Array, params: EnvParams):
        keys = jax.random.split(key, self.n_worlds)
        slates = slates.reshape(self.n_worlds, self.users_per_world, -1)
        obs, state, reward, cost, terminated, truncated, info = jax.vmap(
            self.base.step, in_axes=(0, 0, 0, None)
        )(keys, state, slates, params)
        n_served = jnp.maximum(info["served"].sum(axis=1, keepdims=True), 1)
        cost = cost * self.users_per_world / n_served

        def fold(x):
            return x.reshape(self.n_users, *x.shape[2:])

        return (
            self._fold(obs),
            state,
            fold(reward),
            fold(cost),
            fold(terminated),
            fold(truncated),
            jax.tree.map(fold, info),
        )

    def record(self, state, next_state, reward, cost, info) -> dict[str, jax.Array]:
        """:func:`long_run_record` of one step of these worlds (as :meth:`step` returns it, the
        costs rescaled per served slate), each series f32[W], one value per world: for
        ``make_train``'s ``record``, so an agent that keeps learning reports the long run's
        series."""
        unfold = lambda x: x.reshape(self.n_worlds, self.users_per_world, *x.shape[1:])  # noqa: E731
        info = jax.tree.map(unfold, info)
        served = jnp.maximum(info["served"].sum(axis=1, keepdims=True), 1)
        raw_cost = unfold(cost) * served / self.users_per_world  # undo step's rescaling
        return jax.vmap(long_run_record)(state, next_state, unfold(reward), raw_cost, info)

    def world(self, world: tuple[AgentObservation, EnvState], index) -> tuple:
        """World ``index`` of this env's ``(obs, state)`` as a world of the base env (the inverse
        of :meth:`single` for one world): for serving the training worlds where they are."""
        obs, state = world
        pick = lambda x: x[index]  # noqa: E731
        history = obs.history.reshape(self.n_worlds, self.users_per_world, *obs.history.shape[1:])
        obs = obs.replace(
            history=history[index],
            features=obs.features[index],
            mask=obs.mask[index],
            platform=jax.tree.map(pick, obs.platform),
        )
        return obs, jax.tree.map(pick, state)

    def single(self, obs: AgentObservation, state: EnvState) -> tuple[AgentObservation, EnvState]:
        """One world of the base env (``obs``, ``state``) as a world of this env (``n_worlds`` must
        be 1): the same world, with the world axis added."""
        if self.n_worlds != 1:
            raise ConfigError("n_worlds", f"single() needs n_worlds == 1, got {self.n_worlds}")
        add_axis = lambda x: x[None]  # noqa: E731
        state = jax.tree.map(add_axis, state)
        obs = obs.replace(
            features=obs.features[None],
            mask=obs.mask[None],
            platform=jax.tree.map(add_axis, obs.platform),
        )
        return obs, state


def reset_worlds(env: WorldsAgentEnv, runner, params: EnvParams):
    """``runner`` (one seed's :class:`jaxrec.agents.train.RunnerState`) with fresh worlds drawn
    from its own key (the key then advances), for the periodic reset of a continuing run."""
    key, world_key = jax.random.split(runner.key)
    return runner._replace(world=env.reset(world_key, params), key=key)


def trajectory_bytes(env: WorldsAgentEnv) -> int:
    """Bytes of one iteration's stored trajectory (float32 histories, actions, rewards, costs,
    log-probs and flags) for ``env``: the dominant memory of a training iteration."""
    per_step = env.history_len * env.dim + env.action_dim + 6  # + reward, cost, log-prob, flags
    return 4 * env.episode_len * env.n_users * per_step


# How :func:`serve_long_run` turns the scores into slates.
PLAIN, QUOTA, FROZEN, FAIRCO = 0, 1, 2, 3
# Whose scores :func:`serve_long_run` serves: the agent's, uniform noise (random slates) or the
# items' current popularity (most-popular slates, the same for every user).
AGENT_SCORES, RANDOM_SCORES, POPULAR_SCORES = 0, 1, 2
LONG_RUN_SERIES = (
    "head_per_slate",
    "cost",
    "clicks",
    "exposure_gini",
    "active_producers",
    "relabelled",
)


@flax.struct.dataclass
class Serving:
    """How one long run serves (all traced, so one program holds every method): ``mode`` i32[]
    (:data:`PLAIN`, :data:`QUOTA`, :data:`FROZEN` or :data:`FAIRCO`), ``head_ratio`` f32[] the
    target share of head items in a slate, ``gain`` f32[] FairCo's lambda, ``scorer`` i32[]
    (:data:`AGENT_SCORES`, :data:`RANDOM_SCORES` or :data:`POPULAR_SCORES`) the scores ``mode``
    ranks."""

    mode: jax.Array
    head_ratio: jax.Array
    gain: jax.Array
    scorer: jax.Array = AGENT_SCORES


def standardized_scores(scores: jax.Array, mask: jax.Array) -> jax.Array:
    """Scores f32[U, M] centred and scaled per user over the allowed items, so FairCo's gain is
    in units of a user's score spread whatever the scorer's scale."""
    n = jnp.maximum(mask.sum(axis=1, keepdims=True), 1)
    mean = jnp.where(mask, scores, 0.0).sum(axis=1, keepdims=True) / n
    var = jnp.where(mask, (scores - mean) ** 2, 0.0).sum(axis=1, keepdims=True) / n
    return (scores - mean) / jnp.sqrt(var + 1e-12)


def long_run_record(
    state: EnvState,
    next_state: EnvState,
    reward: jax.Array,
    cost: jax.Array,
    info: dict[str, jax.Array],
) -> dict[str, jax.Array]:
    """The :data:`LONG_RUN_SERIES` of one world's step (``state`` -> ``next_state``, the platform's
    ``reward`` and ``cost`` f32[U] and ``info``): each a scalar f32[] (see
    :func:`serve_long_run`)."""
    served = info["served"]
    n_served = jnp.maximum(served.sum(), 1)
    return {
        "head_per_slate": info["head_in_slate"].sum() / n_served,
        "cost": jnp.where(served, cost, 0.0).sum() / n_served,
        "clicks": jnp.where(served, reward, 0.0).sum() / n_served,
        "exposure_gini": gini(next_state.item_exposure_recent, where=next_state.item_alive),
        "active_producers": next_state.producer_active.sum().astype(jnp.float32),
        "relabelled": jnp.any(state.item_is_head != next_state.item_is_head).astype(jnp.float32),
    }


def serve_long_run(
    key: jax.Array,
    env: PlatformAgentEnv,
    params: EnvParams,
    scores_fn: Callable[[jax.Array, AgentObservation], jax.Array],
    steps: int,
    serving: Serving,
    world: tuple[AgentObservation, EnvState] | None = None,
) -> dict[str, jax.Array]:
    """Serve one world for ``steps`` steps with slates from ``scores_fn(key, obs)`` f32[U, M] (or,
    by ``serving.scorer``, from uniform noise or the items' current popularity), as is or
    re-ranked (``serving``): the quota on live labels, the quota on the labels frozen at the first
    served step, or FairCo on the standardized scores (its exposure memory carried in the scan).
    The world is a fresh one drawn from ``key`` (after ``env``'s burn-in), or ``world``, an
    ``(obs, state)`` of ``env`` (a training world where training left it,
    :meth:`WorldsAgentEnv.world`), served from where it is.

    Returns per-step f32[steps] series (:data:`LONG_RUN_SERIES`): ``head_per_slate`` head items
    (by the labels at serving time: the constrained quantity) per served slate, ``cost`` mean cost
    per served user, ``clicks`` per served user, ``exposure_gini`` of the decayed recent exposure
    over live items, ``active_producers``, ``relabelled`` (1 where the labels changed).
    """
    k = env.platform.slate_size
    obs, state = env.reset(key, params) if world is None else world
    frozen = freeze_labels(obs.platform)

    def step(carry, step_key):
        obs, state, memory = carry
        policy_key, step_key = jax.random.split(step_key)
        agent_scores = scores_fn(policy_key, obs)
        scores = jnp.stack(
            [
                agent_scores,
                jax.random.uniform(jax.random.fold_in(policy_key, 2), agent_scores.shape),
                jnp.broadcast_to(obs.platform.item_popularity, agent_scores.shape),
            ]
        )[serving.scorer]
        head = state.item_is_head
        z = standardized_scores(scores, obs.mask)
        fair_params = FairCoParams(head_ratio=serving.head_ratio, gain=serving.gain)
        # a key of its own for the quotas' rounding, leaving the other streams as they were
        quota_key = jax.random.fold_in(policy_key, 1)
        options = jnp.stack(
            [
                select_slate(scores, obs.mask, k),
                quota_slate(scores, obs.mask, head, serving.head_ratio, k, quota_key),
                quota_slate(
                    scores,
                    obs.mask,
                    frozen_head(frozen, state.item_arrival_step),
                    serving.head_ratio,
                    k,
                    quota_key,
                ),
                fairco_slate(z, obs.mask, head, memory, fair_params, k),
            ]
        )
        slates = options[serving.mode]
        memory = fairco_update(memory, slates, head, state.item_alive, state.user_active)
        obs, next_state, reward, cost, _, _, info = env.step(step_key, state, slates, params)
        return (obs, next_state, memory), long_run_record(state, next_state, reward, cost, info)

    carry = (obs, state, fairco_memory())
    _, series = jax.lax.scan(step, carry, jax.random.split(key, steps))
    return series


def serve_online(
    key: jax.Array,
    trainer,
    runner,
    cost_limit: jax.Array,
    params: EnvParams,
    steps: int,
    fresh_world: bool = True,
) -> dict[str, jax.Array]:
    """Deploy a trained agent for ``steps`` steps while it goes on learning: after every
    ``episode_len`` served steps one update of its algorithm (CPO or PPO-Lagrangian) on the
    segment just served, held to ``cost_limit`` (episode scale, as in training), its critics,
    multiplier and cost margin carried over from training. The constraint then follows the world
    as it ages, which a frozen policy cannot.

    ``trainer`` is ``make_train(config, env, params, record=env.record)`` on a
    :class:`WorldsAgentEnv` ``env``; ``runner`` the agent's trained
    :class:`jaxrec.agents.train.RunnerState`. With ``fresh_world`` (``env`` must then have one
    world) the agent serves a fresh world, the world :func:`serve_long_run` serves with the same
    ``key`` (the runner's training worlds are replaced); without, ``env`` is the training env and
    the agent serves its training worlds from where training left them. Returns
    :data:`LONG_RUN_SERIES` f32[W, steps] each, one row per world served.
    """
    env = trainer.env
    if fresh_world:
        runner = runner._replace(world=env.single(*env.base.reset(key, params)))
    runner = runner._replace(key=jax.random.fold_in(key, 2))
    segments = -(-steps // env.episode_len)
    _, metrics = trainer.iterate(runner, segments, cost_limit, params)
    # f32[segments, T, W] -> f32[W, steps]
    return jax.tree.map(lambda x: x.reshape(-1, env.n_worlds)[:steps].T, metrics["steps"])
