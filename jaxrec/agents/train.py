"""Training FCPO (CPO) and PPO-Lagrangian agents on the FCPO protocol env as one compiled program.

PureJaxRL shape (Lu et al. 2022, "Discovered Policy Optimisation"): ``make_train(config, env,
env_params)`` returns a :class:`Trainer`, called as ``train(key)``: a pure function whose every
iteration (rollout of all users for one episode, GAE for reward and cost, the policy update, critic
fits; the stages in :mod:`jaxrec.agents.train_stages`) is inside a single ``lax.scan``.
``jax.jit(jax.vmap(train))(keys, limits)`` trains many seeds (and cost limits, a traced argument)
as one program.

Scales (docs/algorithms.md §1): ``J_C`` is the mean episode cost over users and the limit ``d`` is per
episode. The cost surrogate ``mean(ratio * A_C)`` is per step, so CPO's constraint value is put on the
same per-step scale, ``c = (J_C - d) / episode_len``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax

from jaxrec.agents.gae import center, standardize
from jaxrec.agents.networks import Critic, GaussianPolicy
from jaxrec.agents.ppo_lagrangian import pid_init
from jaxrec.agents.train_config import CPOConfig
from jaxrec.agents.train_stages import (
    RunnerState,
    advantages,
    cpo_step,
    fit_critics,
    ppo_lagrangian_step,
    rollout,
    time_features,
)
from jaxrec.envs.environment import VectorActionEnvironment
from jaxrec.envs.fcpo import FCPOEnv, FCPOParams
from jaxrec.errors import ConfigError
from jaxrec.metrics import f1, gini, ndcg_at_k, popularity_rate, precision_at_k, recall_at_k

# Per-iteration metrics, each f32/i32[iterations] (per seed).
TRAINING_METRICS = (
    "episode_return",
    "episode_cost",
    "kl",
    "case",
    "n_backtracks",
    "accepted",
    "multiplier",
    "cost_margin",
)


@dataclasses.dataclass(frozen=True, eq=False)  # eq=False: hashed by identity, as jit needs
class Trainer:
    """What :func:`make_train` builds: the static pieces of a training run and its entry points.

    ``trainer(key, cost_limit=config.cost_limit, env_params=env_params) -> (RunnerState,
    metrics)`` (also ``trainer.train``) runs ``config.iterations`` iterations from
    :meth:`init`. ``cost_limit`` (a scalar, ``inf`` for unconstrained) is traced, so one compiled
    program serves every limit and ``vmap`` sweeps limits. Passing ``env_params`` as an argument
    (rather than relying on the default, which ``jit`` bakes in as a constant) keeps large
    catalogues out of the compiled program. ``metrics`` maps each of :data:`TRAINING_METRICS` to an
    array over iterations. CPO leaves ``multiplier`` at 0 and PPO-Lagrangian ``cost_margin``;
    PPO-Lagrangian reports ``case = -1`` and its KL after the update.

    For progress reporting and resumable runs, ``init(key) -> RunnerState`` and
    ``iterate(runner, n_iterations, cost_limit, env_params) -> (RunnerState, metrics)``
    (``n_iterations`` static) split the run into chunks: ``trainer(key)`` equals ``init``
    followed by chunks of ``iterate`` adding up to ``config.iterations``. (``chex.assert_max_traces``
    wraps ``trainer.train``: it reads a function's source, which an instance has none of.)

    A *continuing* env (``env.continuing`` true, e.g.
    :class:`jaxrec.agents.platform_train.WorldsAgentEnv`) is reset once, in ``init``; each iteration
    then serves the next ``episode_len`` steps of the same worlds (``RunnerState.world``), so a
    long deployment's late regime is in the training data. Its segments end without termination:
    GAE bootstraps on the last state, and the critics see no time feature (time fraction 0).
    """

    config: CPOConfig
    env: VectorActionEnvironment
    env_params: Any
    policy_net: GaussianPolicy
    critic_net: Critic
    critic_opt: optax.GradientTransformation
    policy_opt: optax.GradientTransformation  # PPO-Lagrangian's (unused by CPO)
    continuing: bool  # the env's ``continuing`` flag (False when it has none)
    times: tuple[jax.Array, jax.Array]  # the critics' time input, :func:`time_features`
    # per-step series kept by the rollout (``rollout``'s ``record``) and returned in the
    # metrics as ``steps``, each f32[T] per iteration; None keeps none
    record: Callable[..., dict[str, jax.Array]] | None = None

    def init(self, key: jax.Array, env_params: Any = None) -> RunnerState:
        """Fresh networks, optimiser states and (continuing env) worlds for one seed."""
        env_params = self.env_params if env_params is None else env_params
        k_pi, k_r, k_c, key = jax.random.split(key, 4)
        history = jnp.zeros((1, self.env.history_len, self.env.dim))
        policy = self.policy_net.init(k_pi, history)
        critics = [self.critic_net.init(k, history, jnp.zeros(1)) for k in (k_r, k_c)]
        ppo = self.config.algorithm == "ppo-lag"
        return RunnerState(
            policy=policy,
            reward_critic=critics[0],
            cost_critic=critics[1],
            critic_opt=self.critic_opt.init((critics[0], critics[1])),
            policy_opt=self.policy_opt.init(policy) if ppo else (),
            multiplier=jnp.zeros((), jnp.float32),
            cost_margin=jnp.zeros((), jnp.float32),
            key=key,
            world=self.env.reset(jax.random.fold_in(key, 1), env_params) if self.continuing else (),
            pid=pid_init() if ppo else (),
        )

    def step(
        self, runner: RunnerState, cost_limit: jax.Array, env_params: Any
    ) -> tuple[RunnerState, dict[str, jax.Array]]:
        """One iteration: rollout, advantages, policy update, critic fit; and its metrics."""
        config = self.config
        key, k_roll, k_update, k_critic = jax.random.split(runner.key, 4)
        runner = runner._replace(key=key)
        traj, world = rollout(
            self.env, env_params, self.policy_net, runner.policy, k_roll, runner.world, self.record
        )
        if self.continuing:
            runner = runner._replace(world=world)
        reward_gae, cost_gae = advantages(config, self.critic_net, runner, traj, self.times)
        reward_adv = standardize(reward_gae.advantages)
        cost_adv = center(cost_gae.advantages)
        episode_return = traj.reward.sum(axis=0).mean()
        episode_cost = traj.cost.sum(axis=0).mean()
        update = (reward_adv, cost_adv, episode_cost, cost_limit)
        if config.algorithm == "cpo":
            runner, stats = cpo_step(config, self.policy_net, runner, traj, *update)
        else:
            runner, stats = ppo_lagrangian_step(
                config, self.policy_net, self.policy_opt, runner, traj, *update, k_update
            )
        returns = (reward_gae.returns, cost_gae.returns)
        runner = fit_critics(
            config, self.critic_net, self.critic_opt, runner, traj, returns, self.times[0], k_critic
        )
        metrics = {
            "episode_return": episode_return,
            "episode_cost": episode_cost,
            "multiplier": runner.multiplier,
            "cost_margin": runner.cost_margin,
            **stats,
        }
        if self.record is not None:
            metrics["steps"] = traj.records
        return runner, metrics

    def iterate(
        self,
        runner: RunnerState,
        n_iterations: int,
        cost_limit: float | jax.Array | None = None,
        env_params: Any = None,
    ) -> tuple[RunnerState, dict[str, jax.Array]]:
        """``n_iterations`` (static) steps from ``runner``; metrics f32/i32[n_iterations] each."""
        cost_limit = self.config.cost_limit if cost_limit is None else cost_limit
        env_params = self.env_params if env_params is None else env_params
        limits = jnp.full((n_iterations,), cost_limit, jnp.float32)
        return jax.lax.scan(lambda r, limit: self.step(r, limit, env_params), runner, limits)

    def train(
        self, key: jax.Array, cost_limit: float | jax.Array | None = None, env_params: Any = None
    ) -> tuple[RunnerState, dict[str, jax.Array]]:
        """The whole run: :meth:`init` then ``config.iterations`` iterations."""
        env_params = self.env_params if env_params is None else env_params
        return self.iterate(
            self.init(key, env_params), self.config.iterations, cost_limit, env_params
        )

    __call__ = train


def make_train(
    config: CPOConfig,
    env: VectorActionEnvironment,
    env_params: Any,
    record: Callable[..., dict[str, jax.Array]] | None = None,
) -> Trainer:
    """The :class:`Trainer` of ``config`` on ``env``: call it as ``train(key, cost_limit,
    env_params)``, or ``jax.jit(jax.vmap(train))`` over seeds and limits. ``record`` (see
    :class:`Trainer`) keeps per-step series of every rollout in the metrics' ``steps``."""
    continuing = getattr(env, "continuing", False)
    return Trainer(
        config=config,
        env=env,
        env_params=env_params,
        policy_net=config.policy_network(env.action_dim),
        critic_net=config.critic_network(),
        critic_opt=optax.adam(config.critic_lr),
        policy_opt=optax.adam(config.ppo_lr),
        continuing=continuing,
        times=time_features(env.episode_len, continuing),
        record=record,
    )


TEST_ACTIONS = ("sample", "mean")


def evaluate_policy(
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
    policy_net = config.policy_network(env.action_dim)
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
