"""Training FCPO (CPO) and PPO-Lagrangian agents on the FCPO protocol env as one compiled program.

PureJaxRL shape (Lu et al. 2022, "Discovered Policy Optimisation"): ``make_train(config, env,
env_params)`` returns ``train(key)``, a pure function whose every iteration (rollout of all users for
one episode, GAE for reward and cost, the policy update, critic fits) is inside a single ``lax.scan``.
``jax.jit(jax.vmap(train))(keys, limits)`` trains many seeds (and cost limits, a traced argument)
as one program.

Scales (docs/algorithms.md §1): ``J_C`` is the mean episode cost over users and the limit ``d`` is per
episode. The cost surrogate ``mean(ratio * A_C)`` is per step, so CPO's constraint value is put on the
same per-step scale, ``c = (J_C - d) / episode_len``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from jaxrec.agents.cpo import cpo_update
from jaxrec.agents.gae import center, gae, standardize
from jaxrec.agents.networks import (
    Critic,
    GaussianPolicy,
    gaussian_kl,
    gaussian_log_prob,
)
from jaxrec.agents.ppo_lagrangian import (
    PPOBatch,
    lagrangian_advantage,
    ppo_update,
    update_multiplier,
)
from jaxrec.envs.environment import VectorActionEnvironment
from jaxrec.envs.fcpo import FCPOEnv, FCPOParams
from jaxrec.errors import ConfigError
from jaxrec.metrics import f1, gini, ndcg_at_k, popularity_rate, precision_at_k, recall_at_k

ALGORITHMS = ("cpo", "ppo-lag")


@dataclasses.dataclass(frozen=True)
class CPOConfig:
    """Hyper-parameters of :func:`make_train`.

    Attributes:
      algorithm: ``"cpo"`` or ``"ppo-lag"``.
      iterations: policy updates (one episode of every user each).
      cost_limit: ``d``, allowed mean episode cost (``inf``: unconstrained).
      gamma, gae_lambda: discount and GAE lambda for both reward and cost.
      hidden: widths of the policy's and critics' hidden layers.
      init_log_std: initial log-std of the Gaussian action.
      delta, damping, cg_iterations, backtrack, max_backtracks: CPO (:mod:`jaxrec.agents.cpo`).
        The default ``delta = 0.01`` (Achiam et al. 2017) holds the cost tightly on small worlds;
        a larger trust region learns faster but overshoots the linearised constraint more (tiny
        test world, limit 1: tail cost 1.2 at 0.01, 1.5 at 0.05). The mean action starts near
        zero and the KL bound caps its growth at ``sqrt(2 delta)`` exploration-noise stds per
        update, so on the protocol's catalogue-sized worlds ``jaxrec train`` uses ``--delta 0.05``.
      critic_lr, critic_steps, critic_batch: Adam step size, steps per iteration and samples per
        step (drawn with replacement from the iteration's ``T * U`` states) for both critics.
      fisher_stride: the Fisher products use every ``fisher_stride``-th state (1: all).
      cost_margin_lr: CPO's learned cost margin (0: off). CPO's step is chosen on the batch whose
        surrogate predicts its cost, so that prediction is optimistic: on MovieLens-100K a step
        predicted to bring the cost down to the limit lowered it by about a sixth of that on an
        independent batch, and the training cost settled 10-30% over its limit. The margin is an
        integral controller on the measured violation, ``m <- max(0, m + lr (J_C - d))`` per
        iteration (episode scale), and CPO aims at ``J_C + m <= d``: ``m`` stops moving only when
        the training cost averages the limit. (The learned margin of the CPO agent in OpenAI's
        safety-starter-agents, Ray, Achiam & Amodei 2019.)
      ppo_lr, ppo_epochs, ppo_minibatches, clip_eps, multiplier_lr: PPO-Lagrangian.
    """

    algorithm: str = "cpo"
    iterations: int = 100
    cost_limit: float = float("inf")
    gamma: float = 0.99
    gae_lambda: float = 0.95
    hidden: tuple[int, ...] = (64, 64)
    init_log_std: float = 0.0
    delta: float = 0.01
    damping: float = 0.1
    cg_iterations: int = 10
    backtrack: float = 0.8
    max_backtracks: int = 10
    critic_lr: float = 1e-2
    critic_steps: int = 20
    critic_batch: int = 2048
    fisher_stride: int = 4
    cost_margin_lr: float = 0.0
    ppo_lr: float = 3e-3
    ppo_epochs: int = 4
    ppo_minibatches: int = 4
    clip_eps: float = 0.2
    multiplier_lr: float = 0.05

    def __post_init__(self) -> None:
        if self.algorithm not in ALGORITHMS:
            raise ConfigError("algorithm", f"must be one of {ALGORITHMS}, got {self.algorithm!r}")
        for name in (
            "iterations",
            "cg_iterations",
            "max_backtracks",
            "critic_steps",
            "critic_batch",
            "fisher_stride",
            "ppo_epochs",
            "ppo_minibatches",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(name, f"must be an integer >= 1, got {value!r}")
        if not self.cost_limit >= 0:
            raise ConfigError("cost_limit", f"must be >= 0, got {self.cost_limit}")
        for name in ("gamma", "gae_lambda"):
            if not 0 <= getattr(self, name) <= 1:
                raise ConfigError(name, f"must be in [0, 1], got {getattr(self, name)}")
        if not self.cost_margin_lr >= 0:
            raise ConfigError("cost_margin_lr", f"must be >= 0, got {self.cost_margin_lr}")
        for name in ("delta", "critic_lr", "ppo_lr", "clip_eps"):
            if not getattr(self, name) > 0:
                raise ConfigError(name, f"must be > 0, got {getattr(self, name)}")
        if not 0 < self.backtrack < 1:
            raise ConfigError("backtrack", f"must be in (0, 1), got {self.backtrack}")


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


# Per-iteration metrics, each f32/i32[iterations] (per seed).
METRIC_NAMES = (
    "episode_return",
    "episode_cost",
    "kl",
    "case",
    "n_backtracks",
    "accepted",
    "multiplier",
    "cost_margin",
)


def make_train(config: CPOConfig, env: VectorActionEnvironment, env_params: Any):
    """Build ``train(key, cost_limit=config.cost_limit, env_params=env_params) -> (RunnerState,
    metrics)``.

    ``cost_limit`` (a scalar, ``inf`` for unconstrained) is traced, so one compiled program serves
    every limit and ``vmap`` sweeps limits. Passing ``env_params`` as an argument (rather than
    relying on the default, which ``jit`` bakes in as a constant) keeps large catalogues out of the
    compiled program. ``metrics`` maps each of :data:`METRIC_NAMES` to an array over iterations.

    For progress reporting and resumable runs, ``train.init(key) -> RunnerState`` and
    ``train.iterate(runner, n_iterations, cost_limit, env_params) -> (RunnerState, metrics)``
    (``n_iterations`` static) split ``train`` into chunks: ``train(key)`` equals ``init`` followed
    by chunks of ``iterate`` adding up to ``config.iterations``.
    CPO leaves ``multiplier`` at 0 and PPO-Lagrangian ``cost_margin``; PPO-Lagrangian reports
    ``case = -1`` and its KL after the update.

    A *continuing* env (``env.continuing`` true, e.g.
    :class:`jaxrec.agents.platform_train.WorldsAgentEnv`) is reset once, in ``init``; each iteration
    then serves the next ``episode_len`` steps of the same worlds (``RunnerState.world``), so a
    long deployment's late regime is in the training data. Its segments end without termination:
    GAE bootstraps on the last state, and the critics see no time feature (time fraction 0).
    """
    continuing = getattr(env, "continuing", False)
    policy_net = GaussianPolicy(env.action_dim, config.hidden, config.init_log_std)
    critic_net = Critic(config.hidden)
    critic_opt = optax.adam(config.critic_lr)
    policy_opt = optax.adam(config.ppo_lr)
    horizon = env.episode_len
    time_fraction = jnp.arange(horizon, dtype=jnp.float32)[:, None] / horizon
    next_time_fraction = time_fraction + 1.0 / horizon
    if continuing:
        time_fraction = next_time_fraction = jnp.zeros((horizon, 1), jnp.float32)

    def init(key: jax.Array, env_params: FCPOParams = env_params) -> RunnerState:
        k_pi, k_r, k_c, key = jax.random.split(key, 4)
        history = jnp.zeros((1, env.history_len, env.dim))
        policy = policy_net.init(k_pi, history)
        critics = [critic_net.init(k, history, jnp.zeros(1)) for k in (k_r, k_c)]
        return RunnerState(
            policy=policy,
            reward_critic=critics[0],
            cost_critic=critics[1],
            critic_opt=critic_opt.init((critics[0], critics[1])),
            policy_opt=policy_opt.init(policy) if config.algorithm == "ppo-lag" else (),
            multiplier=jnp.zeros((), jnp.float32),
            cost_margin=jnp.zeros((), jnp.float32),
            key=key,
            world=env.reset(jax.random.fold_in(key, 1), env_params) if continuing else (),
        )

    def rollout(policy, key: jax.Array, env_params: FCPOParams, world=()) -> Trajectory:
        obs, state = world if continuing else env.reset(key, env_params)

        def step(carry, step_key):
            obs, state = carry
            mean, log_std = policy_net.apply(policy, obs.history)
            action = mean + jnp.exp(log_std) * jax.random.normal(step_key, mean.shape)
            items = env.select(action, obs, env_params)
            next_obs, state, reward, cost, terminated, truncated, _ = env.step(
                step_key, state, items, env_params
            )
            record = Trajectory(
                history=obs.history,
                action=action,
                log_prob=gaussian_log_prob(action, mean, log_std),
                reward=reward,
                cost=cost,
                terminated=terminated,
                truncated=truncated,
                final_history=(),
            )
            return (next_obs, state), record

        (last_obs, last_state), traj = jax.lax.scan(
            step, (obs, state), jax.random.split(key, horizon)
        )
        return traj._replace(final_history=last_obs.history), (last_obs, last_state)

    def advantages(runner: RunnerState, traj: Trajectory):
        next_history = jnp.concatenate([traj.history[1:], traj.final_history[None]])

        def values(critic, history, fraction):
            return critic_net.apply(critic, history, jnp.broadcast_to(fraction, history.shape[:2]))

        out = []
        for critic, signal in (
            (runner.reward_critic, traj.reward),
            (runner.cost_critic, traj.cost),
        ):
            out.append(
                gae(
                    signal,
                    values(critic, traj.history, time_fraction),
                    values(critic, next_history, next_time_fraction),
                    traj.terminated,
                    traj.truncated,
                    config.gamma,
                    config.gae_lambda,
                )
            )
        return out

    def fit_critics(runner: RunnerState, traj: Trajectory, reward_returns, cost_returns, key):
        def flat(x):
            return x.reshape(-1, *x.shape[2:])

        history = flat(traj.history)
        fraction = flat(jnp.broadcast_to(time_fraction, traj.reward.shape))
        targets = (flat(reward_returns), flat(cost_returns))
        batch_size = min(config.critic_batch, history.shape[0])

        def loss(critics, rows):
            return sum(
                jnp.mean(
                    (critic_net.apply(critic, history[rows], fraction[rows]) - target[rows]) ** 2
                )
                for critic, target in zip(critics, targets, strict=True)
            )

        def step(carry, step_key):
            critics, opt_state = carry
            rows = jax.random.randint(step_key, (batch_size,), 0, history.shape[0])
            grads = jax.grad(loss)(critics, rows)
            updates, opt_state = critic_opt.update(grads, opt_state, critics)
            return (optax.apply_updates(critics, updates), opt_state), None

        (critics, opt_state), _ = jax.lax.scan(
            step,
            ((runner.reward_critic, runner.cost_critic), runner.critic_opt),
            jax.random.split(key, config.critic_steps),
        )
        return critics, opt_state

    def policy_distribution(policy, history):
        return policy_net.apply(policy, history)

    def cpo_policy_step(runner, traj, reward_adv, cost_adv, episode_cost, cost_limit):
        old_mean, old_log_std = jax.lax.stop_gradient(
            policy_distribution(runner.policy, traj.history)
        )

        def log_ratio(policy):
            mean, log_std = policy_distribution(policy, traj.history)
            return gaussian_log_prob(traj.action, mean, log_std) - traj.log_prob

        def kl_on(history, old_mean):
            def kl(policy):
                mean, log_std = policy_distribution(policy, history)
                return jnp.mean(gaussian_kl(old_mean, old_log_std, mean, log_std))

            return kl

        kl = kl_on(traj.history, old_mean)
        stride = config.fisher_stride
        fisher_kl = kl_on(
            traj.history.reshape(-1, *traj.history.shape[2:])[::stride],
            old_mean.reshape(-1, old_mean.shape[-1])[::stride],
        )

        def reward_surrogate(policy):
            return jnp.mean(jnp.exp(log_ratio(policy)) * reward_adv)

        def cost_surrogate(policy):
            return jnp.mean(jnp.exp(log_ratio(policy)) * cost_adv)

        # the learned margin (CPOConfig.cost_margin_lr); an infinite limit never violates
        violation = jnp.where(jnp.isfinite(cost_limit), episode_cost - cost_limit, 0.0)
        margin = jnp.maximum(runner.cost_margin + config.cost_margin_lr * violation, 0.0)
        c = (episode_cost + margin - cost_limit) / horizon
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

    def ppo_policy_step(runner, traj, reward_adv, cost_adv, episode_cost, cost_limit, key):
        # An infinite limit gives max(0, -inf) = 0: plain PPO.
        multiplier = update_multiplier(
            runner.multiplier, episode_cost, cost_limit, config.multiplier_lr
        )

        def flat(x):
            return x.reshape(-1, *x.shape[2:])

        def log_prob_fn(policy, inputs):
            history, action = inputs
            mean, log_std = policy_distribution(policy, history)
            return gaussian_log_prob(action, mean, log_std)

        batch = PPOBatch(
            inputs=(flat(traj.history), flat(traj.action)),
            old_log_probs=flat(traj.log_prob),
            advantages=flat(lagrangian_advantage(reward_adv, cost_adv, multiplier)),
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
        old_mean, old_log_std = policy_distribution(runner.policy, traj.history)
        new_mean, new_log_std = policy_distribution(policy, traj.history)
        stats = {
            "kl": jnp.mean(gaussian_kl(old_mean, old_log_std, new_mean, new_log_std)),
            "case": jnp.int32(-1),
            "n_backtracks": jnp.int32(0),
            "accepted": jnp.bool_(True),
        }
        return runner._replace(policy=policy, policy_opt=opt_state, multiplier=multiplier), stats

    def iteration(runner: RunnerState, cost_limit: jax.Array, env_params: FCPOParams):
        key, k_roll, k_update, k_critic = jax.random.split(runner.key, 4)
        runner = runner._replace(key=key)
        traj, world = rollout(runner.policy, k_roll, env_params, runner.world)
        if continuing:
            runner = runner._replace(world=world)
        reward_gae, cost_gae = advantages(runner, traj)
        reward_adv = standardize(reward_gae.advantages)
        cost_adv = center(cost_gae.advantages)
        episode_return = traj.reward.sum(axis=0).mean()
        episode_cost = traj.cost.sum(axis=0).mean()
        if config.algorithm == "cpo":
            runner, stats = cpo_policy_step(
                runner, traj, reward_adv, cost_adv, episode_cost, cost_limit
            )
        else:
            runner, stats = ppo_policy_step(
                runner, traj, reward_adv, cost_adv, episode_cost, cost_limit, k_update
            )
        (reward_critic, cost_critic), critic_state = fit_critics(
            runner, traj, reward_gae.returns, cost_gae.returns, k_critic
        )
        runner = runner._replace(
            reward_critic=reward_critic, cost_critic=cost_critic, critic_opt=critic_state
        )
        metrics = {
            "episode_return": episode_return,
            "episode_cost": episode_cost,
            "multiplier": runner.multiplier,
            "cost_margin": runner.cost_margin,
            **stats,
        }
        return runner, metrics

    def iterate(
        runner: RunnerState,
        n_iterations: int,
        cost_limit: float | jax.Array = config.cost_limit,
        env_params: FCPOParams = env_params,
    ):
        limits = jnp.full((n_iterations,), cost_limit, jnp.float32)
        return jax.lax.scan(lambda r, limit: iteration(r, limit, env_params), runner, limits)

    def train(
        key: jax.Array,
        cost_limit: float | jax.Array = config.cost_limit,
        env_params: FCPOParams = env_params,
    ):
        return iterate(init(key), config.iterations, cost_limit, env_params)

    train.init = init
    train.iterate = iterate
    return train


TEST_ACTIONS = ("sample", "mean")


def evaluate(
    policy,
    config: CPOConfig,
    env: FCPOEnv,
    env_params: FCPOParams,
    test_action: str = "sample",
    key: jax.Array | None = None,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Roll the policy for one episode of every user.

    ``test_action="sample"`` draws each action from the Gaussian policy, as in training: that is
    the policy CPO's constraint holds, ``E[cost] <= d`` is a statement about it. ``"mean"`` acts
    with the mean action (greedy, no exploration noise), a different, deterministic policy whose
    cost the constraint does not bound.

    Returns:
      ``(items i32[U, T], hits bool[U, T], n_relevant i32[U])``: the recommended item and whether
      it was a hit at each step (position k = step k, as in the FCPO paper), and each user's number
      of targets counted before the rollout.
    """
    if test_action not in TEST_ACTIONS:
        raise ConfigError("test_action", f"must be one of {TEST_ACTIONS}, got {test_action!r}")
    noise = 1.0 if test_action == "sample" else 0.0
    policy_net = GaussianPolicy(env.action_dim, config.hidden, config.init_log_std)
    key = jax.random.key(0) if key is None else key
    obs, state = env.reset(key, env_params)
    n_relevant = state.n_relevant

    def step(carry, step_key):
        obs, state = carry
        mean, log_std = policy_net.apply(policy, obs.history)
        action = mean + noise * jnp.exp(log_std) * jax.random.normal(step_key, mean.shape)
        items = env.select(action, obs, env_params)
        obs, state, _, _, _, _, info = env.step(step_key, state, items, env_params)
        return (obs, state), (items, info["hit"])

    _, (items, hits) = jax.lax.scan(step, (obs, state), jax.random.split(key, env.episode_len))
    return items.T, hits.T, n_relevant


def protocol_metrics(
    items: jax.Array,
    hits: jax.Array,
    n_relevant: jax.Array,
    is_head: jax.Array,
    ks: tuple[int, ...] = (5, 10, 20),
) -> dict[str, jax.Array]:
    """FCPO test metrics at each cut-off ``k`` (position k = time step k; docs/algorithms.md §1).

    ``recall``, ``precision``, ``ndcg`` are means over users (recall over the targets counted before
    the rollout); ``f1 = 2PR/(P+R)`` of those means; ``gini`` of per-item recommendation counts over
    the whole catalogue (zeros included); ``pop_rate`` the share of recommended items in G0.

    Args:
      items: i32[U, T] recommended items; hits: bool[U, T]; n_relevant: i32[U]; is_head: bool[I].
      ks: static cut-offs, each <= T.

    Returns:
      ``{f"{name}@{k}": f32}``.
    """
    out = {}
    for k in ks:
        precision = precision_at_k(hits, k).mean()
        recall = recall_at_k(hits, n_relevant, k).mean()
        counts = jnp.zeros(is_head.shape[0]).at[items[:, :k]].add(1.0)
        out |= {
            f"recall@{k}": recall,
            f"precision@{k}": precision,
            f"f1@{k}": f1(precision, recall),
            f"ndcg@{k}": ndcg_at_k(hits, n_relevant, k).mean(),
            f"gini@{k}": gini(counts),
            f"pop_rate@{k}": popularity_rate(is_head[items[:, :k]], axis=(-2, -1)),
        }
    return out


# the name before the three trainer configs got distinct names; kept for existing callers
TrainConfig = CPOConfig
