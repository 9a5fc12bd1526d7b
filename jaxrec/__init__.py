"""jaxrec: simulate long-term fairness in recommender systems with JAX.

The public API is importable from the package root; names resolve lazily on first use, so
``import jaxrec`` (and ``jaxrec --help``) stays fast:

>>> import jaxrec
>>> jaxrec.PlatformEnv.__module__
'jaxrec.envs.platform'

The subpackages hold the same names by layer (see the README's "Layout" section).
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> the subpackage that re-exports it
_EXPORTS = {
    "jaxrec.data": (
        "World",
        "SyntheticWorldConfig",
        "synthetic_world",
        "MovieLensData",
        "load_ml100k",
        "load_ml1m",
        "fcpo_split",
    ),
    "jaxrec.envs": (
        "PlatformEnv",
        "EnvParams",
        "EnvState",
        "Observation",
        "FCPOEnv",
        "fcpo_setup",
        "make_rollout",
        "init_carry",
        "run_chunked",
        "AutoReset",
        "EpisodeStats",
    ),
    "jaxrec.agents": (
        "make_policy",
        "POLICIES",
        "CPOConfig",
        "make_train",
        "Trainer",
        "LoopConfig",
        "run_closed_loop",
        "MarketplacePolicy",
        "load_policy",
        "save_agent",
        "load_agent",
    ),
    "jaxrec.models": ("FM", "FMTrainConfig"),
    "jaxrec.pareto": ("pareto_weights", "solve_weights", "hypervolume", "non_dominated"),
    "jaxrec.metrics": ("gini", "ndcg_at_k", "recall_at_k", "auc", "top_share", "position_weights"),
    "jaxrec.ops": ("select_slate",),
    "jaxrec.sweep": ("SweepSpec", "load_sweep", "run_sweep", "load_metrics", "summarise"),
    "jaxrec.errors": ("JaxrecError", "ConfigError", "DataFormatError", "NonFiniteError"),
}
_OWNER = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_OWNER)


def __getattr__(name: str) -> Any:
    if name in _OWNER:
        return getattr(importlib.import_module(_OWNER[name]), name)
    raise AttributeError(f"module 'jaxrec' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
