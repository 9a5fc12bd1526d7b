"""The stages of one CPO / PPO-Lagrangian training iteration, as pure functions.

:meth:`jaxrec.agents.train.Trainer.step` runs them in this order: :func:`rollout` (one episode of
every user under the current policy), :func:`advantages` (GAE of the reward and of the cost),
:func:`cpo_step` or :func:`ppo_lagrangian_step` (the policy update, docs/algorithms.md §1), then
:func:`fit_critics`. The flax networks and optax optimisers come in as arguments (they are static
descriptions); their parameters and states travel in :class:`RunnerState`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from jaxrec.agents.cpo import cpo_update
from jaxrec.agents.gae import Advantages, gae
from jaxrec.agents.networks import Critic, GaussianPolicy, gaussian_kl, gaussian_log_prob
from jaxrec.agents.ppo_lagrangian import (
    PPOBatch,
    lagrangian_advantage,
    ppo_update,
    update_pid_multiplier,
)
from jaxrec.agents.train_config import CPOConfig
from jaxrec.envs.environment import VectorActionEnvironment


class RunnerState(NamedTuple):
    """Everything one seed carries from iteration to iteration."""

    policy: Any
    reward_critic: Any
    cost_critic: Any
    critic_opt: Any
    policy_opt: Any  # PPO's Adam state (empty for CPO)
    multiplier: jax.Array  # PPO-Lagrangian's l (unused by CPO)
    cost_margin: jax.Array  # CPO's learned cost margin m (unused by PPO-Lagrangian)
    key: jax.Array
    world: Any = ()  # a continuing env's (obs, state) carried between iterations; () otherwise
    pid: Any = ()  # PPO-Lagrangian's multiplier state, a PIDState; () for CPO


class Trajectory(NamedTuple):
    """One episode of every user, time-major: leaves f[T, U, ...] except ``final_history``
    f[U, h, d], the state after the last step (the state after step t is ``history[t + 1]`` before
    it: an episode is the whole rollout, with no reset inside)."""

    history: jax.Array
    action: jax.Array
    log_prob: jax.Array
    reward: jax.Array
    cost: jax.Array
    terminated: jax.Array
    truncated: jax.Array
    final_history: jax.Array
    records: Any = ()  # rollout's ``record`` outputs, each f32[T]; () without one


def flatten_time(x: jax.Array) -> jax.Array:
    """f[T, U, ...] -> f[T * U, ...]: every (step, user) sample as one batch row."""
    return x.reshape(-1, *x.shape[2:])


def time_features(horizon: int, continuing: bool) -> tuple[jax.Array, jax.Array]:
    """The critics' time input before and after each step, f32[T, 1] each: the elapsed fraction
    of the episode, or zeros for a continuing env, whose segments end without termination."""
    if continuing:
        zeros = jnp.zeros((horizon, 1), jnp.float32)
        return zeros, zeros
    fraction = jnp.arange(horizon, dtype=jnp.float32)[:, None] / horizon
    return fraction, fraction + 1.0 / horizon


def rollout(
    env: VectorActionEnvironment,
    env_params: Any,
    policy_net: GaussianPolicy,
    policy: Any,
    key: jax.Array,
    world: tuple = (),
    record: Callable[..., dict[str, jax.Array]] | None = None,
) -> tuple[Trajectory, tuple]:
    """``env.episode_len`` steps of every user, each action sampled from the Gaussian policy (the
    stochastic policy that CPO's constraint is about).

    ``world`` is a continuing env's ``(obs, state)`` to go on from; ``()`` resets the env with
    ``key``. ``record(state, next_state, reward, cost, info)``, if given, is called on every step
    and its scalars are kept in ``Trajectory.records`` (each f32[T]), e.g. the long run's series
    while an agent keeps learning in deployment. Returns the trajectory and the ``(obs, state)``
    after its last step.
    """
    obs, state = world if world else env.reset(key, env_params)

    def step(carry, step_key):
        obs, state = carry
        mean, log_std = policy_net.apply(policy, obs.history)
        action = mean + jnp.exp(log_std) * jax.random.normal(step_key, mean.shape)
        items = env.select(action, obs, env_params)
        next_obs, next_state, reward, cost, terminated, truncated, info = env.step(
            step_key, state, items, env_params
        )
        step_record = Trajectory(
            history=obs.history,
            action=action,
            log_prob=gaussian_log_prob(action, mean, log_std),
            reward=reward,
            cost=cost,
            terminated=terminated,
            truncated=truncated,
            final_history=(),
            records=() if record is None else record(state, next_state, reward, cost, info),
        )
        return (next_obs, next_state), step_record

    (last_obs, last_state), traj = jax.lax.scan(
        step, (obs, state), jax.random.split(key, env.episode_len)
    )
    return traj._replace(final_history=last_obs.history), (last_obs, last_state)


def advantages(
    config: CPOConfig,
    critic_net: Critic,
    runner: RunnerState,
    traj: Trajectory,
    times: tuple[jax.Array, jax.Array],
) -> tuple[Advantages, Advantages]:
    """GAE of the reward and of the cost (each f[T, U]), each against its own critic; ``times``
    is :func:`time_features`. The state after step ``t`` is the one at ``t + 1`` (the last one is
    ``final_history``), so each critic runs once over the ``T + 1`` states."""
    now, after = times
    history = jnp.concatenate([traj.history, traj.final_history[None]])
    fraction = jnp.broadcast_to(jnp.concatenate([now, after[-1:]]), history.shape[:2])

    def gae_of(critic, signal):
        values = critic_net.apply(critic, history, fraction)
        return gae(
            signal,
            values[:-1],
            values[1:],
            traj.terminated,
            traj.truncated,
            config.gamma,
            config.gae_lambda,
        )

    reward_gae = gae_of(runner.reward_critic, traj.reward)
    cost_gae = gae_of(runner.cost_critic, traj.cost)
    return reward_gae, cost_gae


def fit_critics(
    config: CPOConfig,
    critic_net: Critic,
    critic_opt: optax.GradientTransformation,
    runner: RunnerState,
    traj: Trajectory,
    returns: tuple[jax.Array, jax.Array],
    time_fraction: jax.Array,
    key: jax.Array,
) -> RunnerState:
    """``config.critic_steps`` Adam steps of both critics on the squared error to their GAE
    ``returns`` (reward, cost; f[T, U] each), each step on ``critic_batch`` states drawn with
    replacement from the iteration's ``T * U``."""
    history = flatten_time(traj.history)
    fraction = flatten_time(jnp.broadcast_to(time_fraction, traj.reward.shape))
    targets = tuple(flatten_time(target) for target in returns)
    batch_size = min(config.critic_batch, history.shape[0])

    def loss(critics, rows):
        return sum(
            jnp.mean((critic_net.apply(critic, history[rows], fraction[rows]) - target[rows]) ** 2)
            for critic, target in zip(critics, targets, strict=True)
        )

    def step(carry, step_key):
        critics, opt_state = carry
        rows = jax.random.randint(step_key, (batch_size,), 0, history.shape[0])
        grads = jax.grad(loss)(critics, rows)
        updates, opt_state = critic_opt.update(grads, opt_state, critics)
        return (optax.apply_updates(critics, updates), opt_state), None

    ((reward_critic, cost_critic), opt_state), _ = jax.lax.scan(
        step,
        ((runner.reward_critic, runner.cost_critic), runner.critic_opt),
        jax.random.split(key, config.critic_steps),
    )
    return runner._replace(
        reward_critic=reward_critic, cost_critic=cost_critic, critic_opt=opt_state
    )


def cpo_step(
    config: CPOConfig,
    policy_net: GaussianPolicy,
    runner: RunnerState,
    traj: Trajectory,
    reward_adv: jax.Array,
    cost_adv: jax.Array,
    episode_cost: jax.Array,
    cost_limit: jax.Array,
) -> tuple[RunnerState, dict[str, jax.Array]]:
    """One CPO update (:func:`jaxrec.agents.cpo.cpo_update`) on the trajectory, aiming at
    ``J_C + m <= d`` with the learned margin ``m`` (``CPOConfig.cost_margin_lr``); the constraint
    value is put on the surrogate's per-step scale (the "Scales" note of :mod:`jaxrec.agents.train`).
    Returns the runner with the new policy and margin, and the update's statistics."""
    old_mean, old_log_std = jax.lax.stop_gradient(policy_net.apply(runner.policy, traj.history))

    def log_ratio(policy):
        mean, log_std = policy_net.apply(policy, traj.history)
        return gaussian_log_prob(traj.action, mean, log_std) - traj.log_prob

    def kl_on(history, old_mean):
        def kl(policy):
            mean, log_std = policy_net.apply(policy, history)
            return jnp.mean(gaussian_kl(old_mean, old_log_std, mean, log_std))

        return kl

    kl = kl_on(traj.history, old_mean)
    stride = config.fisher_stride
    fisher_kl = kl_on(
        flatten_time(traj.history)[::stride],
        old_mean.reshape(-1, old_mean.shape[-1])[::stride],
    )

    def reward_surrogate(policy):
        return jnp.mean(jnp.exp(log_ratio(policy)) * reward_adv)

    def cost_surrogate(policy):
        return jnp.mean(jnp.exp(log_ratio(policy)) * cost_adv)

    # an infinite limit never violates
    violation = jnp.where(jnp.isfinite(cost_limit), episode_cost - cost_limit, 0.0)
    margin = jnp.maximum(runner.cost_margin + config.cost_margin_lr * violation, 0.0)
    c = (episode_cost + margin - cost_limit) / traj.reward.shape[0]
    # An infinite limit means "unconstrained": c = -inf would poison the arithmetic, and any
    # finite c below -sqrt(2 delta s) already selects the TRPO step.
    c = jnp.maximum(c, -1e6)
    policy, info = cpo_update(
        runner.policy,
        kl,
        reward_surrogate,
        cost_surrogate,
        c,
        delta=config.delta,
        damping=config.damping,
        cg_iterations=config.cg_iterations,
        backtrack=config.backtrack,
        max_backtracks=config.max_backtracks,
        fisher_kl_fn=fisher_kl if stride > 1 else None,
    )
    stats = {
        "kl": info.kl,
        "case": info.case,
        "n_backtracks": info.n_backtracks,
        "accepted": info.accepted,
    }
    return runner._replace(policy=policy, cost_margin=margin), stats


def ppo_lagrangian_step(
    config: CPOConfig,
    policy_net: GaussianPolicy,
    policy_opt: optax.GradientTransformation,
    runner: RunnerState,
    traj: Trajectory,
    reward_adv: jax.Array,
    cost_adv: jax.Array,
    episode_cost: jax.Array,
    cost_limit: jax.Array,
    key: jax.Array,
) -> tuple[RunnerState, dict[str, jax.Array]]:
    """Move the (PID) multiplier on the measured violation, then PPO epochs on the Lagrangian
    advantage (:mod:`jaxrec.agents.ppo_lagrangian`). Returns the runner with the new policy, Adam
    state and multiplier, and statistics shaped like :func:`cpo_step`'s (``case = -1``, the KL
    measured after the update)."""
    # An infinite limit gives a zero multiplier: plain PPO.
    multiplier, pid = update_pid_multiplier(
        runner.pid,
        episode_cost,
        cost_limit,
        config.multiplier_lr,
        config.multiplier_kp,
        config.multiplier_kd,
    )

    def log_prob_fn(policy, inputs):
        history, action = inputs
        mean, log_std = policy_net.apply(policy, history)
        return gaussian_log_prob(action, mean, log_std)

    batch = PPOBatch(
        inputs=(flatten_time(traj.history), flatten_time(traj.action)),
        old_log_probs=flatten_time(traj.log_prob),
        advantages=flatten_time(lagrangian_advantage(reward_adv, cost_adv, multiplier)),
    )
    policy, opt_state, _ = ppo_update(
        key,
        runner.policy,
        runner.policy_opt,
        policy_opt,
        log_prob_fn,
        batch,
        epochs=config.ppo_epochs,
        n_minibatches=config.ppo_minibatches,
        clip_eps=config.clip_eps,
    )
    old_mean, old_log_std = policy_net.apply(runner.policy, traj.history)
    new_mean, new_log_std = policy_net.apply(policy, traj.history)
    stats = {
        "kl": jnp.mean(gaussian_kl(old_mean, old_log_std, new_mean, new_log_std)),
        "case": jnp.int32(-1),
        "n_backtracks": jnp.int32(0),
        "accepted": jnp.bool_(True),
    }
    return (
        runner._replace(policy=policy, policy_opt=opt_state, multiplier=multiplier, pid=pid),
        stats,
    )
