"""``jaxrec train cpo|ppo-lag|compare|sweep|evaluate|platform``: train constrained recommenders on
the FCPO protocol (seeds and cost limits as one compiled program), compare them with the static
baselines, sweep the NDCG-vs-Gini trade-off, reload a saved agent, and run the long-run platform
experiment. Each mode is its own parser showing only the options it reads."""

from __future__ import annotations

import argparse

from jaxrec.commands import _train_fcpo as train_fcpo
from jaxrec.commands import _train_platform as train_platform
from jaxrec.commands._options import (
    add_allow_large,
    add_data_options,
    add_out,
    add_seeds,
    comma_list,
    fraction,
    limit,
    nonnegative_float,
    positive_float,
)

PROTOCOL_DESCRIPTION = (
    "Split ratings chronologically (FCPO protocol), fit MF item embeddings on the training part, "
    "label the popular group from training counts"
)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train CPO (FCPO) or PPO-Lagrangian on the FCPO protocol (seeds as one program)",
        description=(
            "Constrained recommenders on the FCPO protocol and on the dynamic platform. "
            "`jaxrec train MODE --help` lists the options of each mode."
        ),
    )
    modes = parser.add_subparsers(dest="algorithm", metavar="MODE")
    modes.required = True
    for algorithm in ("cpo", "ppo-lag"):
        _fcpo_mode(
            modes,
            algorithm,
            f"train {algorithm.upper()} agents (seeds as one program) and score them",
            f"train S {algorithm} seeds at once under a cost limit on popular-item "
            "recommendations per episode, then evaluate the policy (--test-action) on the held-out "
            "histories. Writes DIR/results.json (metrics at K = 5, 10, 20, mean and std over "
            "seeds), DIR/train_log.parquet, DIR/learning_curves.png and the agent's orbax "
            "checkpoint DIR/agent/.",
            train_fcpo.run_train,
            cpo=algorithm == "cpo",
            ppo_lag=algorithm == "ppo-lag",
        )
    _fcpo_mode(
        modes,
        "compare",
        "the FCPO table: static baselines, CPO, unconstrained CPO, PPO-Lagrangian",
        "then score the static baselines, CPO at the limit and unconstrained, PPO-Lagrangian and "
        "the re-ranker matched to CPO's popular rate on the same test rollout. Writes "
        "DIR/comparison.json and DIR/comparison.csv.",
        train_fcpo.run_compare,
    )
    sweep = _fcpo_mode(
        modes,
        "sweep",
        "NDCG vs Gini and PopRate, with bootstrap CIs, over --limits (CPO, PPO-Lagrangian) and "
        "--head-ratios (static re-ranker)",
        "train CPO and PPO-Lagrangian at every limit x seed (one program each), score them, the "
        "static re-ranker at every head ratio, most-popular and MF-greedy on the same test users, "
        "with the users' seen items allowed and excluded (both; training does not depend on it), "
        "and bootstrap over test users and seeds. Prints the table (NDCG gaps to the re-ranker's "
        "curve at equal PopRate and Gini, 'ns' where not significant). Writes DIR/tradeoff.json "
        "(mean, ci_low, ci_high of every figure) and DIR/tradeoff.png.",
        train_fcpo.run_sweep,
        cost_limit=False,
        exclude_seen=False,
    )
    sweep.add_argument(
        "--limits",
        type=comma_list(limit),
        default="1,2,3,5",
        help="comma-separated cost limits per episode",
    )
    sweep.add_argument(
        "--head-ratios",
        type=comma_list(fraction),
        default="0,0.1,0.2,0.3,0.4,0.5,0.6,0.8,1",
        help="comma-separated head ratios of the static re-ranker",
    )
    sweep.add_argument("--sweep-k", type=int, default=10, help="metric cut-off K (default 10)")
    sweep.add_argument(
        "--bootstrap",
        type=int,
        default=1000,
        help="bootstrap draws over test users and seeds for the CIs (default 1000)",
    )
    evaluate = modes.add_parser(
        "evaluate",
        help="reload an agent saved by cpo / ppo-lag and score it on the same data options",
        description=(
            "Rebuild the FCPO protocol from the data options (give the ones the agent was trained "
            "with), reload the agent in --agent DIR and score it. Writes DIR/results.json."
        ),
    )
    _protocol_options(evaluate, train_steps=False)
    evaluate.add_argument("--agent", help="an agent folder written by cpo / ppo-lag")
    add_out(evaluate)
    evaluate.set_defaults(func=train_fcpo.run_evaluate, validate=train_fcpo.validate)
    train_platform.register(modes)


def _fcpo_mode(
    modes: argparse._SubParsersAction,
    name: str,
    help: str,
    what: str,
    func,
    cost_limit: bool = True,
    exclude_seen: bool = True,
    cpo: bool = True,
    ppo_lag: bool = True,
) -> argparse.ArgumentParser:
    """A mode that builds the FCPO protocol and trains agents on it: its parser, with the data,
    protocol and training options, handled by ``func``."""
    parser = modes.add_parser(name, help=help, description=f"{PROTOCOL_DESCRIPTION}, {what}")
    _protocol_options(parser, exclude_seen=exclude_seen)
    _training_options(parser, cost_limit, cpo, ppo_lag)
    add_allow_large(parser)
    parser.set_defaults(func=func, validate=train_fcpo.validate)
    return parser


def _protocol_options(
    parser: argparse.ArgumentParser, train_steps: bool = True, exclude_seen: bool = True
) -> None:
    """The data options that build the FCPO protocol (:func:`_protocol`), and how trained agents
    act at test."""
    add_data_options(parser)
    if train_steps:
        parser.add_argument("--train-steps", type=int, default=10, help="training episode length")
    parser.add_argument("--test-steps", type=int, default=20, help="test episode length (>= 20)")
    parser.add_argument("--dim", type=int, default=32, help="MF item-embedding dimension")
    if exclude_seen:
        parser.add_argument(
            "--exclude-seen",
            action="store_true",
            help="at test, never recommend a user's initial/training items (every method; the "
            "FCPO paper's protocol leaves them recommendable)",
        )
    parser.add_argument(
        "--test-action",
        choices=("sample", "mean"),
        default="sample",
        help="how a trained agent acts at test: 'sample' from its Gaussian policy (the policy "
        "the cost limit holds; default) or its 'mean' action (deterministic; the limit does not "
        "bound it)",
    )
    parser.add_argument("--mf-epochs", type=int, default=30, help="MF training epochs")
    parser.add_argument(
        "--synthetic-users", type=int, default=943, help="users of the synthetic log"
    )
    parser.add_argument(
        "--synthetic-items", type=int, default=1682, help="items of the synthetic log"
    )
    parser.add_argument(
        "--synthetic-per-user", type=int, default=60, help="interactions per synthetic user"
    )
    parser.add_argument("--data-seed", type=int, default=0, help="synthetic data and MF seed")


def _training_options(
    parser: argparse.ArgumentParser, cost_limit: bool, cpo: bool, ppo_lag: bool
) -> None:
    """Iterations, trust region and seeds of the trained agents (and their cost limit; CPO's
    learned margin when the mode trains CPO; PPO-Lagrangian's multiplier gain when it trains
    PPO-Lagrangian)."""
    if cost_limit:
        parser.add_argument(
            "--cost-limit",
            type=limit,
            default=float("inf"),
            help="allowed popular-group recommendations per training episode "
            "(default: unconstrained)",
        )
    parser.add_argument("--iterations", type=int, default=100, help="policy updates (default 100)")
    parser.add_argument(
        "--delta",
        type=positive_float,
        default=0.05,
        help="CPO trust region (KL per update; default 0.05: at 0.01 the agents' mean action grows "
        "too slowly to leave random-level accuracy within a few hundred iterations)",
    )
    if cpo:
        parser.add_argument(
            "--cost-margin-lr",
            type=nonnegative_float,
            default=0.5,
            help="CPO's learned cost margin: integral control of the training cost's excess over "
            "the limit (0: off; default 0.5, a ~10-iteration time constant for the measured "
            "optimism of CPO's cost prediction; README, FCPO)",
        )
    if ppo_lag:
        parser.add_argument(
            "--multiplier-lr",
            type=nonnegative_float,
            default=0.05,
            help="PPO-Lagrangian's multiplier gain: l <- max(0, l + lr (cost - limit)) each "
            "iteration (default 0.05; README, FCPO, for its tuning round)",
        )
    add_seeds(parser, help="seeds trained at once (default 3)")
    add_out(parser)
