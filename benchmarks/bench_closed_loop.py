"""Closed-loop outcomes: concentration under a scorer retrained on its own logs, what a marketplace
policy holds and costs, FM vs AAFM as the scorer; plus closed-loop speed vs the plain platform.

Prints tables and writes JSON (default benchmarks/results/closed_loop.json).

    python benchmarks/bench_closed_loop.py [--steps 500 --worlds 3 --users 512 --items 1000]
        [--policy FILE (default: the packaged example)] [--json PATH] [--skip-speed]

Every run uses the same world and seeds; metrics are means over worlds (± std over worlds).
"Early" is the window right after the first retrain (steps W+1 .. 2W), "late" the last 10% of steps.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from jaxrec.agents.marketplace import EXAMPLE_POLICY_PATH
from jaxrec.io import write_json

OUTCOME_METRICS = (
    "top1_share",
    "producer_gini",
    "item_gini",
    "longtail_exposure",
    "longtail_coverage",
    "head_slate_share",
    "new_item_wait",
    "active_producers",
    "clicks_per_user",
    "clicks_niche",
)


def window_stats(frame, low: int, high: int) -> dict[str, dict[str, float]]:
    """Mean and std over worlds of each metric averaged over steps low..high."""
    part = frame[(frame["step"] >= low) & (frame["step"] <= high)]
    per_world = part.groupby("world")[list(OUTCOME_METRICS)].mean()
    return {
        m: {"mean": float(per_world[m].mean()), "std": float(per_world[m].std(ddof=0))}
        for m in OUTCOME_METRICS
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--worlds", type=int, default=3)
    parser.add_argument("--users", type=int, default=512)
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--retrain-every", type=int, default=50)
    parser.add_argument("--policy", default=str(EXAMPLE_POLICY_PATH))
    parser.add_argument("--scorers", nargs="+", default=["mf", "fm", "aafm"])
    parser.add_argument("--json", default="benchmarks/results/closed_loop.json")
    parser.add_argument("--skip-speed", action="store_true")
    args = parser.parse_args()

    from jaxrec.agents.closed_loop import run_closed_loop
    from jaxrec.agents.loop_scorer import LoopConfig
    from jaxrec.agents.marketplace import load_policy
    from jaxrec.data import synthetic_world
    from jaxrec.envs import PlatformEnv

    policy = load_policy(args.policy)
    head_cap = np.floor(policy.sections["slate"]["max_head_share"] * 10 + 1e-6) / 10
    world = synthetic_world(0, n_users=args.users, n_items=args.items)
    env = PlatformEnv(n_users=args.users, slate_size=10, log_steps=args.retrain_every)
    params = env.default_params(world)
    w, t = args.retrain_every, args.steps
    results: dict = {
        "config": {**vars(args), "env": repr(env), "policy_sections": policy.sections},
        "runs": {},
    }
    frames = {}
    for scorer in args.scorers:
        for rerank in (False, True):
            name = f"{scorer}+policy" if rerank else scorer
            config = LoopConfig(scorer=scorer, retrain_every=w)
            frame, _ = run_closed_loop(
                env, params, config, policy.params() if rerank else None,
                args.worlds, t, seed=0, progress=True, desc=name,
            )  # fmt: skip
            frames[name] = frame
            results["runs"][name] = {
                "early": window_stats(frame, w + 1, 2 * w),
                "late": window_stats(frame, int(t * 0.9) + 1, t),
                "whole": window_stats(frame, 1, t),
                "head_slate_share_max_after_first_retrain": float(
                    frame[frame["step"] > w].groupby("step")["head_slate_share"].mean().max()
                ),
            }

    print(f"\n{'run':>12} {'window':>6} " + " ".join(f"{m[:14]:>14}" for m in OUTCOME_METRICS))
    for name, run in results["runs"].items():
        for window in ("early", "late"):
            cells = " ".join(
                f"{run[window][m]['mean']:>8.3f}±{run[window][m]['std']:<5.3f}"
                for m in OUTCOME_METRICS
            )
            print(f"{name:>12} {window:>6} {cells}")

    findings = {}
    for scorer in args.scorers:
        base, ranked = results["runs"][scorer], results["runs"][f"{scorer}+policy"]
        findings[scorer] = {
            "top1_share_early_to_late": [
                base["early"]["top1_share"]["mean"],
                base["late"]["top1_share"]["mean"],
            ],
            "producer_gini_early_to_late": [
                base["early"]["producer_gini"]["mean"],
                base["late"]["producer_gini"]["mean"],
            ],
            "policy_head_share_cap": float(head_cap),
            "policy_head_share_late": ranked["late"]["head_slate_share"]["mean"],
            "policy_head_share_max": ranked["head_slate_share_max_after_first_retrain"],
            "no_policy_head_share_late": base["late"]["head_slate_share"]["mean"],
            "policy_click_loss_fraction": 1.0
            - ranked["whole"]["clicks_per_user"]["mean"] / base["whole"]["clicks_per_user"]["mean"],
        }
    if "fm" in args.scorers and "aafm" in args.scorers:
        fm, aafm = results["runs"]["fm"]["late"], results["runs"]["aafm"]["late"]
        findings["aafm_minus_fm_late"] = {
            m: aafm[m]["mean"] - fm[m]["mean"] for m in OUTCOME_METRICS
        }
    results["findings"] = findings
    print("\nfindings:")
    for key, value in findings.items():
        print(f"  {key}: " + ", ".join(
            f"{k}={np.round(v, 4).tolist()}" for k, v in value.items()
        ))  # fmt: skip

    if not args.skip_speed:
        from jaxrec.bench import closed_loop as speed

        speed_args = argparse.ArgumentParser()
        speed.add_arguments(speed_args)
        record = speed.run(
            speed_args.parse_args(
                [f"--users={args.users}", f"--items={args.items}", f"--policy={args.policy}"]
            )
        )
        results["speed"] = record
        print(
            f"\nspeed ({args.users} users, {args.items} items, K=10, retrain every 50): plain "
            f"{record['plain_user_steps_per_s']:,.0f} user-steps/s; closed loop "
            f"{record['closed_loop_user_steps_per_s']:,.0f} "
            f"({record['closed_loop_vs_plain']:.0%} of plain); with re-ranking "
            f"{record['closed_loop_rerank_user_steps_per_s']:,.0f} "
            f"({record['closed_loop_rerank_vs_plain']:.0%})"
        )
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    write_json(args.json, results)
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
