"""``jaxrec pareto``: trace a PE-LTR frontier (CTR vs GMV, or accuracy vs exposure on a simulator
log) and compare it with a fixed-weight grid."""

from __future__ import annotations

import argparse

from jaxrec.commands._options import add_allow_large, add_out

DATA_CHOICES = ("synthetic-ecommerce", "diginetica", "simulator")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "pareto",
        help="trace a Pareto frontier with PE-LTR (adaptive bounds x seeds as one program)",
        description=(
            "Train an FM scorer on K objectives with Pareto-efficient weights over an adaptive grid "
            "of weight bounds x seeds (one compiled program), keep the non-dominated points, compute "
            "hypervolume against a fixed reference point, pick the least-misery fair point, and "
            "compare with a fixed-weight scalarisation grid of the same number of runs. Writes "
            "DIR/frontier.csv, DIR/summary.json and DIR/frontier.png."
        ),
    )
    parser.add_argument("--data", choices=DATA_CHOICES, default="synthetic-ecommerce")
    parser.add_argument(
        "--data-dir", help="folder of DIGINETICA-style CSVs (for --data diginetica)"
    )
    parser.add_argument(
        "--objectives",
        help="comma-separated, from ctr, gmv, accuracy, exposure (default ctr,gmv; "
        "accuracy,exposure for --data simulator)",
    )
    add_out(parser)
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.add_argument("--settings", type=int, default=16, help="bound settings (default 16)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per setting (default 3)")
    parser.add_argument(
        "--first-round",
        type=int,
        help="bound settings of the adaptive grid; the rest go where a model of its frontier "
        "predicts the most hypervolume gain (default half, K = 2)",
    )
    parser.add_argument(
        "--adaptive-rounds",
        type=int,
        default=2,
        help="rounds the settings after the first round are split over, each picked from the "
        "frontier model refitted to every run so far (default 2)",
    )
    parser.add_argument("--steps", type=int, default=600, help="Adam steps per run")
    parser.add_argument("--batch-lists", type=int, default=64, help="lists per batch")
    parser.add_argument("--dim", type=int, default=8, help="FM embedding dimension")
    parser.add_argument("--lr", type=float, default=0.05, help="Adam learning rate")
    parser.add_argument(
        "--lr-schedule",
        choices=("constant", "cosine"),
        default="constant",
        help="constant, or cosine decay to 0 over --steps (default constant)",
    )
    parser.add_argument(
        "--weight-momentum",
        type=float,
        default=0.0,
        help="train with the moving average (this decay, in [0, 1)) of the weights solved each "
        "step instead of each step's own (default 0)",
    )
    parser.add_argument(
        "--solver",
        default="auto",
        help="auto, closed_form, active_set, projected_gradient, two_step",
    )
    parser.add_argument(
        "--gram",
        choices=("exact", "shared"),
        default="exact",
        help="Gram matrix of the weight solve: exact (per-objective parameter gradients) or shared "
        "(gradients w.r.t. the logits, MGDA-UB: an upper-bound surrogate, same cost as a plain "
        "step); default exact",
    )
    parser.add_argument("--lists", type=int, default=20000, help="synthetic lists to generate")
    parser.add_argument("--data-seed", type=int, default=0, help="synthetic data / split seed")
    simulator = parser.add_argument_group("--data simulator (a logged platform rollout)")
    simulator.add_argument("--sim-users", type=int, default=256, help="user slots")
    simulator.add_argument("--sim-items", type=int, default=200, help="catalogue slots")
    simulator.add_argument("--sim-steps", type=int, default=40, help="logged steps")
    simulator.add_argument(
        "--logger", default="most_popular", help="baseline policy that logs (default most_popular)"
    )
    add_allow_large(parser)
    parser.set_defaults(func=run, validate=validate)


SLATE = 10  # impressions per list of the synthetic and the simulator logs


def check_size(
    args: argparse.Namespace, n_slots: int, n_features: int, catalogue_items: int
) -> None:
    """Refuse a frontier whose largest program (the fixed grid: settings + 1 weightings x seeds
    trained at once) cannot fit. Per run the FM table is held by the parameters, Adam's two
    moments, the update and one gradient per objective."""
    from jaxrec.commands._sizes import check_fits, fm_bytes

    runs = (args.settings + 1) * args.seeds
    n_objectives = len((args.objectives or "a,b").split(","))
    estimate = fm_bytes(
        n_features=n_features, dim=args.dim, runs=runs, n_rows=n_slots,
        row_width=8, eval_rows=n_slots + args.batch_lists * catalogue_items,
        param_copies=4 + n_objectives,
    )  # fmt: skip
    what = f"{runs} PE-LTR run(s) on {n_slots} logged impressions"
    check_fits(estimate, what, allow_large=args.allow_large)


def validate(args: argparse.Namespace) -> None:
    """Check ``--out`` and the memory the generated data and the runs need; write nothing."""
    from jaxrec.commands._outputs import check_out
    from jaxrec.commands._sizes import check_fits, platform_bytes

    check_out(args.out, "pareto", overwrite=args.overwrite)
    if args.data == "synthetic-ecommerce":
        # the feature table is checked once the data is built
        check_size(args, args.lists * SLATE, 0, 0)
    elif args.data == "simulator":
        rollout = platform_bytes(
            n_users=args.sim_users, n_items=args.sim_items, dim=16, slate_size=SLATE,
            n_worlds=1, log_steps=args.sim_steps,
        )  # fmt: skip
        what = f"a logged rollout of {args.sim_users} users x {args.sim_items} items"
        check_fits(rollout, what, allow_large=args.allow_large)
        check_size(args, args.sim_users * args.sim_steps * SLATE, 0, args.sim_items)


def run(args: argparse.Namespace) -> int:

    from jaxrec.commands._outputs import claim_out, finish_out
    from jaxrec.data.ecommerce import load_diginetica, synthetic_ecommerce
    from jaxrec.errors import ConfigError
    from jaxrec.experiments.pareto import plot_frontier, trace_frontier
    from jaxrec.experiments.simulator_log import simulator_log_data
    from jaxrec.io import atomic_path, save_figure, write_json
    from jaxrec.pareto.ecommerce import ParetoTrainConfig
    from jaxrec.pareto.objectives import parse_objectives

    default_objectives = "accuracy,exposure" if args.data == "simulator" else "ctr,gmv"
    objectives = parse_objectives(args.objectives or default_objectives)
    validate(args)
    if args.data == "diginetica":
        if not args.data_dir:
            raise ConfigError("data_dir", "--data diginetica needs --data-dir with the CSV files")
        data = load_diginetica(args.data_dir, seed=args.data_seed)
    elif args.data == "simulator":
        data = simulator_log_data(
            n_users=args.sim_users,
            n_items=args.sim_items,
            steps=args.sim_steps,
            policy=args.logger,
            seed=args.data_seed,
        )
    else:
        data = synthetic_ecommerce(n_lists=args.lists, seed=args.data_seed)
    catalogue = 0 if data.catalogue is None else len(data.catalogue)
    check_size(args, data.train.clicks.size + data.test.clicks.size, data.n_features, catalogue)
    config = ParetoTrainConfig(
        args.steps,
        args.batch_lists,
        args.dim,
        args.lr,
        args.solver,
        gram=args.gram,
        lr_schedule=args.lr_schedule,
        weight_momentum=args.weight_momentum,
    )
    result = trace_frontier(
        data,
        objectives,
        num_settings=args.settings,
        seeds=tuple(range(args.seeds)),
        config=config,
        first_round=args.first_round,
        adaptive_rounds=args.adaptive_rounds,
        progress=not args.no_progress,
    )
    out = claim_out(args.out, "pareto", overwrite=args.overwrite)
    with atomic_path(out / "frontier.csv") as tmp:
        result.table.to_csv(tmp, index=False)
    write_json(out / "summary.json", result.summary)
    save_figure(out / "frontier.png", plot_frontier(result))
    finish_out(out)
    summary = result.summary
    print(
        f"hypervolume PE-LTR {summary['hypervolume']:.5g} vs fixed grid "
        f"{summary['hypervolume_fixed_grid']:.5g} ({summary['runs']['pe-ltr']} vs "
        f"{summary['runs']['fixed']} runs); per seed PE-LTR >= fixed in "
        f"{summary['seeds_pe_ltr_at_least_fixed']}/{len(summary['runs']['seeds'])} (difference "
        f"{summary['hypervolume_per_seed_difference']['mean']:+.2g} +- "
        f"{summary['hypervolume_per_seed_difference']['stderr']:.2g}); fair point "
        + ", ".join(f"{n} {summary['fair_point'][n]:.4f}" for n in objectives)
        + f"; wrote {out}/frontier.csv, summary.json, frontier.png"
    )
    return 0
