"""jaxrec.agents: policies that pick slates (baselines now; constrained RL agents build on them)."""

from jaxrec.agents.baselines import (
    POLICIES,
    GreedyPolicy,
    MostPopularPolicy,
    Policy,
    RandomPolicy,
    StaticRerankPolicy,
    make_policy,
)
from jaxrec.agents.selection import select_slate

__all__ = [
    "POLICIES",
    "GreedyPolicy",
    "MostPopularPolicy",
    "Policy",
    "RandomPolicy",
    "StaticRerankPolicy",
    "make_policy",
    "select_slate",
]
