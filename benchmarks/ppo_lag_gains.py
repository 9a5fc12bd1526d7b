"""How PPO-Lagrangian's multiplier gains shape its training on the platform: the tuning record.

Trains PPO-Lagrangian alone, as ``jaxrec train platform --reset-every 0`` trains it (same world,
sizes, seeds and networks; the world never reset), once per gain setting ``KP/KI/KD`` (the PID
Lagrangian's proportional, integral and derivative gains, :func:`jaxrec.agents.update_pid_multiplier`;
``0/0.01/0`` is the plain ascent, ``0.05/0.003/0`` the command's default; both run by default).
Prints, per setting, the head items per slate of the last fifth of training (mean and the seeds'
range; the target is ``--head-per-slate``), the multiplier's peak and last value and the integral
term's last value (means over seeds), and writes the table as JSON.
Each setting costs what the command's PPO-Lagrangian training costs (minutes on 2 CPU cores).

    python benchmarks/ppo_lag_gains.py [--data ml-100k --data-dir DIR] \\
        [--gains 0/0.01/0,0.05/0.003/0] [--seeds 3] [--iterations 100] [--out FILE]
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np

from jaxrec.experiments.fcpo import train_grid
from jaxrec.experiments.platform_long_run_setup import (
    DATA_CHOICES,
    LongRunExperiment,
    build_world,
    make_envs,
    train_config,
)
from jaxrec.io import write_json


def gains(text: str) -> list[tuple[float, float, float]]:
    try:
        settings = [tuple(float(g) for g in item.split("/")) for item in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected KP/KI/KD[,KP/KI/KD...], got {text!r}") from None
    if any(len(s) != 3 or min(s) < 0 for s in settings):
        raise argparse.ArgumentTypeError(f"expected three gains >= 0 per setting, got {text!r}")
    return settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", choices=DATA_CHOICES, default="synthetic")
    parser.add_argument("--data-dir")
    parser.add_argument("--top-items", type=int)
    parser.add_argument("--gains", type=gains, default=gains("0/0.01/0,0.05/0.003/0"))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--head-per-slate", type=float, default=1.0)
    parser.add_argument("--out", default="benchmarks/results/ppo_lag_gains.json")
    args = parser.parse_args()
    base = LongRunExperiment(
        data=args.data,
        data_dir=args.data_dir,
        top_items=args.top_items,
        iterations=args.iterations,
        reset_every=0,
        seeds=args.seeds,
        targets=(args.head_per_slate,),
        target=args.head_per_slate,
    )
    world = build_world(base)
    _, train_env, params = make_envs(base, world)
    limit = args.head_per_slate * base.train_steps
    rows = []
    print(f"PPO-Lagrangian on the {args.data} platform, {args.seeds} seeds, target "
          f"{args.head_per_slate} head items per slate")  # fmt: skip
    print(f"{'KP/KI/KD':>16} {'last fifth':>10} {'seeds':>13} {'peak l':>7} {'last l':>7} "
          f"{'last I':>7} {'s':>5}")  # fmt: skip
    for kp, ki, kd in args.gains:
        e = dataclasses.replace(base, multiplier_kp=kp, multiplier_lr=ki, multiplier_kd=kd)
        start = time.perf_counter()
        runner, log = train_grid(
            train_config(e, "ppo-lag"), train_env, params, [limit], e.seeds, progress=False
        )
        seconds = time.perf_counter() - start
        head = np.asarray(log["episode_cost"][0]) / e.train_steps  # [seeds, iterations]
        multiplier = np.asarray(log["multiplier"][0])
        integral = np.asarray(runner.pid.integral[0])  # [seeds]
        last_fifth = head[:, -max(1, e.iterations // 5) :].mean(axis=1)
        row = {
            "kp": kp,
            "ki": ki,
            "kd": kd,
            "head_per_slate_last_fifth": float(last_fifth.mean()),
            "per_seed": last_fifth.round(4).tolist(),
            "peak_multiplier": float(multiplier.max()),
            "last_multiplier": multiplier[:, -1].round(4).tolist(),
            "last_integral": integral.round(4).tolist(),
            "head_per_slate_per_iteration": head.mean(axis=0).round(4).tolist(),
            "seconds": round(seconds, 1),
        }
        rows.append(row)
        spread = f"{last_fifth.min():.3f}-{last_fifth.max():.3f}"
        print(f"{kp:>5g}/{ki:g}/{kd:<5g} {row['head_per_slate_last_fifth']:>10.3f} {spread:>13} "
              f"{row['peak_multiplier']:>7.2f} {multiplier[:, -1].mean():>7.2f} "
              f"{integral.mean():>7.2f} {seconds:>5.0f}",
              flush=True)  # fmt: skip
    report = {"data": args.data, "seeds": args.seeds, "iterations": args.iterations,
              "target": args.head_per_slate, "settings": rows}  # fmt: skip
    write_json(args.out, report)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
