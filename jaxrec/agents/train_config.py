"""Hyper-parameters of the CPO (FCPO) and PPO-Lagrangian trainer, :func:`jaxrec.agents.make_train`,
validated on construction, and the networks they describe."""

from __future__ import annotations

import dataclasses

from jaxrec.agents.networks import Critic, GaussianPolicy
from jaxrec.errors import ConfigError

ALGORITHMS = ("cpo", "ppo-lag")


@dataclasses.dataclass(frozen=True)
class CPOConfig:
    """Hyper-parameters of :func:`jaxrec.agents.train.make_train`.

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
      ppo_lr, ppo_epochs, ppo_minibatches, clip_eps, multiplier_lr: PPO-Lagrangian
        (``multiplier_lr`` is the multiplier's integral gain ``K_I``).
      multiplier_kp, multiplier_kd: PPO-Lagrangian's proportional and derivative gains, the PID
        Lagrangian (:func:`jaxrec.agents.ppo_lagrangian.update_pid_multiplier`; 0 and 0: the
        plain gradient ascent).
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
    multiplier_kp: float = 0.0
    multiplier_kd: float = 0.0

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
        for name in ("cost_margin_lr", "multiplier_lr", "multiplier_kp", "multiplier_kd"):
            if not getattr(self, name) >= 0:
                raise ConfigError(name, f"must be >= 0, got {getattr(self, name)}")
        for name in ("delta", "critic_lr", "ppo_lr", "clip_eps"):
            if not getattr(self, name) > 0:
                raise ConfigError(name, f"must be > 0, got {getattr(self, name)}")
        if not 0 < self.backtrack < 1:
            raise ConfigError("backtrack", f"must be in (0, 1), got {self.backtrack}")

    def policy_network(self, action_dim: int) -> GaussianPolicy:
        """The Gaussian policy these hyper-parameters describe, for actions f32[..., action_dim]."""
        return GaussianPolicy(action_dim, self.hidden, self.init_log_std)

    def critic_network(self) -> Critic:
        """The value network shared in shape by the reward and the cost critic."""
        return Critic(self.hidden)
