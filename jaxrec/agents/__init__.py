"""jaxrec.agents: policies that pick slates.

- static baselines (:mod:`~jaxrec.agents.baselines`) and slate selection;
- fairness re-rankers (:mod:`~jaxrec.agents.fairness`): quota on live labels, frozen labels,
  FairCo (group and per item);
- the constrained RL recommender: CPO (FCPO) and PPO-Lagrangian trained by :func:`make_train`;
- closed-loop learned scorers (:mod:`~jaxrec.agents.closed_loop`) and the marketplace re-ranking
  stage (:mod:`~jaxrec.agents.marketplace`).
"""

from jaxrec.agents.baselines import (
    POLICIES,
    GreedyPolicy,
    MostPopularPolicy,
    Policy,
    RandomPolicy,
    make_policy,
)
from jaxrec.agents.checkpoint import load_agent, save_agent
from jaxrec.agents.closed_loop import make_closed_loop, run_closed_loop
from jaxrec.agents.cpo import (
    conjugate_gradient,
    cpo_step,
    cpo_update,
    fisher_vector_product,
    line_search,
)
from jaxrec.agents.fairness import (
    FairCoItemPolicy,
    FairCoPolicy,
    FrozenRerankPolicy,
    QuotaRerankPolicy,
    StaticRerankPolicy,
)
from jaxrec.agents.gae import center, gae, standardize
from jaxrec.agents.loop_scorer import LoopConfig
from jaxrec.agents.marketplace import MarketplacePolicy, load_policy, rerank
from jaxrec.agents.networks import Critic, GaussianPolicy
from jaxrec.agents.ppo_lagrangian import (
    PIDState,
    lagrangian_advantage,
    pid_init,
    ppo_update,
    update_multiplier,
    update_pid_multiplier,
)
from jaxrec.agents.train import Trainer, evaluate_policy, make_train, protocol_metrics
from jaxrec.agents.train_config import CPOConfig
from jaxrec.ops.selection import select_slate

__all__ = [
    "POLICIES",
    "CPOConfig",
    "Critic",
    "FairCoItemPolicy",
    "FairCoPolicy",
    "FrozenRerankPolicy",
    "GaussianPolicy",
    "GreedyPolicy",
    "LoopConfig",
    "MarketplacePolicy",
    "MostPopularPolicy",
    "PIDState",
    "Policy",
    "QuotaRerankPolicy",
    "RandomPolicy",
    "StaticRerankPolicy",
    "Trainer",
    "center",
    "conjugate_gradient",
    "cpo_step",
    "cpo_update",
    "evaluate_policy",
    "fisher_vector_product",
    "gae",
    "lagrangian_advantage",
    "line_search",
    "load_agent",
    "load_policy",
    "make_closed_loop",
    "make_policy",
    "make_train",
    "pid_init",
    "ppo_update",
    "protocol_metrics",
    "rerank",
    "run_closed_loop",
    "save_agent",
    "select_slate",
    "standardize",
    "update_multiplier",
    "update_pid_multiplier",
]
