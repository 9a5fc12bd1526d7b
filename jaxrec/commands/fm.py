"""``jaxrec fm``: train FM, AdvFM, AAFM and D-AAFM (seeds batched) and evaluate feature fairness."""

from __future__ import annotations

import argparse

from jaxrec.commands._options import add_allow_large, add_out, nonnegative_int, number_list

MODELS = ("fm", "advfm", "aafm", "daafm")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "fm",
        help="adversarial factorization machines (FM/AdvFM/AAFM/D-AAFM) with feature-fairness metrics",
        description=(
            "Tune every chosen model with the same budget (--tune configurations each, chosen by "
            "validation AUC, all seeds of a dimension in one compiled program, early stopping on "
            "validation AUC), score the test split with the popularity and random rows beside them, "
            "and write DIR/results.json: every figure (AUC, log loss, bucket AUCs, STD, EFGD) as "
            "mean and 95% interval over bootstrap resamples of the test users, paired differences "
            "between models on the same resamples, and the chosen hyper-parameters. --protocol "
            "paper switches to the AAFM paper's leave-one-out test. --t-sweep adds the "
            "accuracy-vs-fairness curve, --robustness the relative AUC drop under embedding noise."
        ),
    )
    parser.add_argument("--model", choices=(*MODELS, "all"), default="all")
    parser.add_argument("--data", choices=("synthetic", "ml-100k", "ml-1m", "ml-latest"),
                        default="synthetic")  # fmt: skip
    parser.add_argument("--data-dir", help="folder with the MovieLens files")
    parser.add_argument("--setting", choices=("item", "user"), default="item",
                        help="MovieLens feature set: item-centric or user-centric")  # fmt: skip
    parser.add_argument("--protocol", choices=("holdout", "paper"), default="holdout",
                        help="holdout: latest --test-fraction of each user's positives, "
                        "--eval-negatives per positive, shared negative pool (default); paper: "
                        "latest positive + one uniform negative per user")  # fmt: skip
    parser.add_argument("--negatives", choices=("uniform", "matched"), default="uniform",
                        help="holdout test/validation negatives: uniform unrated items or "
                        "popularity-matched to their positive")  # fmt: skip
    parser.add_argument("--eval-negatives", type=int, default=4,
                        help="holdout negatives per validation/test positive (default 4)")  # fmt: skip
    parser.add_argument("--test-fraction", type=float, default=0.2)
    parser.add_argument("--valid-fraction", type=float, default=0.1)
    parser.add_argument("--tune", type=int, default=1, metavar="N",
                        help="configurations per model, the same for every model (1 = the "
                        "presets, no search; e.g. 6)")  # fmt: skip
    parser.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples of users")
    parser.add_argument("--seeds", type=int, default=3, help="number of seeds (default 3)")
    add_out(parser)
    parser.add_argument("--epochs", type=int, default=40, help="maximum epochs (default 40)")
    parser.add_argument("--patience", type=int, default=3)
    parser.add_argument("--dim", type=int, default=None,
                        help="embedding dim (default 64 for MovieLens, 16 for synthetic)")  # fmt: skip
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--lr", type=float, default=5e-3)
    parser.add_argument("--l2", type=float, default=1e-5)
    parser.add_argument(
        "--clean-epochs", type=nonnegative_int, default=1, help="clean warm-up epochs"
    )
    parser.add_argument(
        "--t", type=float, default=None, help="AAFM re-weighting scale (default 10)"
    )
    parser.add_argument("--eps", type=float, default=None, help="perturbation norm / AAFM scale")
    parser.add_argument("--normalise", choices=("value", "dimension"), default=None,
                        help="FGSM normalisation (default per value)")  # fmt: skip
    parser.add_argument("--t-sweep", default=None, metavar="T1,T2,...",
                        help="also sweep AAFM's t, e.g. 1,3,10,30,100")  # fmt: skip
    parser.add_argument("--robustness", action="store_true",
                        help="also measure the AUC drop under embedding noise")  # fmt: skip
    parser.add_argument("--samples", type=int, default=20_000, help="synthetic samples")
    parser.add_argument("--data-seed", type=int, default=0, help="data / negative sampling seed")
    add_allow_large(parser)
    parser.set_defaults(func=run, validate=validate)


def default_dim(args: argparse.Namespace) -> int:
    """The embedding dimension of configuration 0 (``--dim``, else 16 synthetic / 64 MovieLens)."""
    return args.dim or (16 if args.data == "synthetic" else 64)


def check_size(
    args: argparse.Namespace, n_rows: int, n_fields: int, n_features: int, eval_rows: int
) -> None:
    """Refuse a run whose models (every seed x tuning configuration at once) cannot fit."""
    from jaxrec.commands._sizes import check_fits, fm_bytes
    from jaxrec.experiments.fm_tuning import SPACE

    runs = args.seeds * args.tune
    # tuning draws dimensions from the search space too
    dim = max(default_dim(args), *SPACE["dim"]) if args.tune > 1 else default_dim(args)
    estimate = fm_bytes(
        n_features=n_features, dim=dim, runs=runs, n_rows=n_rows, row_width=n_fields + 3,
        eval_rows=eval_rows,
    )  # fmt: skip
    what = f"{runs} model(s) of {n_features} features x dim {dim} on {n_rows} samples"
    check_fits(estimate, what, allow_large=args.allow_large)


def validate(args: argparse.Namespace) -> None:
    """Check ``--out`` and, for synthetic data, the memory estimate; load and write nothing."""
    from jaxrec.commands._outputs import check_out
    from jaxrec.data.fm_synthetic import FIELD_SIZES

    check_out(args.out, "fm", overwrite=args.overwrite)
    if args.data == "synthetic":
        check_size(args, args.samples, len(FIELD_SIZES), sum(FIELD_SIZES), args.samples)


def load_dataset(args: argparse.Namespace):
    """The FM data set the options describe (synthetic or a MovieLens format)."""
    from jaxrec.data.fm_synthetic import synthetic_feature_data
    from jaxrec.data.implicit import movielens_features
    from jaxrec.data.loaders import load_ratings

    if args.data == "synthetic":
        return synthetic_feature_data(n_samples=args.samples, seed=args.data_seed)
    return movielens_features(
        load_ratings(args.data, args.data_dir), args.setting, args.protocol,
        test_fraction=args.test_fraction, valid_fraction=args.valid_fraction,
        eval_negatives=args.eval_negatives, negatives=args.negatives, seed=args.data_seed,
    )  # fmt: skip


def run(args: argparse.Namespace) -> int:
    import dataclasses

    from tqdm.auto import tqdm

    from jaxrec.commands._outputs import claim_out, finish_out
    from jaxrec.experiments import fm as ex
    from jaxrec.experiments import fm_compare as cmp
    from jaxrec.experiments import fm_tuning as tuning
    from jaxrec.io import save_figure, write_json
    from jaxrec.models.adversarial import FMTrainConfig

    validate(args)
    t_values = number_list(args.t_sweep, "t_sweep") if args.t_sweep else None
    dataset = load_dataset(args)
    n_rows = len(dataset.train) + len(dataset.valid) + len(dataset.test)
    check_size(
        args,
        n_rows,
        dataset.n_fields,
        dataset.n_features,
        max(len(dataset.valid), len(dataset.test)),
    )
    dim = default_dim(args)
    config = FMTrainConfig(dim, args.batch_size, args.lr, args.l2, args.epochs, args.patience,
                         args.clean_epochs)  # fmt: skip
    overrides = {k: v for k, v in (("reweight_t", args.t), ("eps", args.eps),
                                   ("normalise", args.normalise)) if v is not None}  # fmt: skip
    names = list(MODELS) if args.model == "all" else [args.model]
    seeds = list(range(args.seeds))

    bar = tqdm(desc="fm", unit="epoch")

    def progress(name, dim, epoch, val_auc):
        bar.set_postfix(model=name, dim=dim, val_auc=f"{val_auc.max():.4f}")
        bar.update(1)

    tuned = {}
    for name in names:
        configs = tuning.draw_configurations(name, args.tune, config, seed=args.data_seed)
        configs[0].update({k: v for k, v in overrides.items() if k in configs[0]})
        tuned[name] = tuning.tune_model(dataset, name, configs, config, seeds, progress)
    bar.close()
    logits = {name: cmp.split_logits(t.result.params, dataset) for name, t in tuned.items()}
    logits["popularity"] = cmp.popularity_logits(dataset)
    logits["random"] = cmp.random_logits(dataset, args.data_seed)
    table = cmp.bootstrap_table(dataset, logits, args.bootstrap, args.data_seed)
    for name, t in tuned.items():
        row = table["models"][name]
        row.update(chosen=t.chosen, val_auc=t.val_auc, trials=t.trials,
                   best_epoch=t.result.best_epoch.tolist())  # fmt: skip
        if "omega" in t.result.params:
            row["omega"] = ex.mean_std(t.result.params["omega"])
    payload = {
        "data": dataset.name,
        "protocol": "synthetic" if args.data == "synthetic" else args.protocol,
        "negatives": args.negatives,
        "eval_negatives": args.eval_negatives,
        "shared_pool": dataset.shared_pool,
        "sizes": {
            "train": len(dataset.train),
            "valid": len(dataset.valid),
            "test": len(dataset.test),
            "features": dataset.n_features,
            "fields": list(dataset.field_names),
        },
        "seeds": seeds,
        "tune": args.tune,
        "config": dataclasses.asdict(config) | {"overrides": overrides},
        **table,
    }
    out = claim_out(args.out, "fm", overwrite=args.overwrite)
    print(cmp.format_comparison(table, {name: t.chosen for name, t in tuned.items()}))
    save_figure(out / "bucket_auc.png", cmp.plot_bucket_auc(table["models"]))
    results = {name: t.result for name, t in tuned.items()}
    save_figure(out / "rarest_bucket_val_auc.png", ex.plot_rarest_bucket_history(results))
    if args.robustness:
        payload["robustness"] = ex.robustness(results, dataset)
        print()
        print(ex.format_robustness(payload["robustness"]))
    if t_values:
        sweep_overrides = {k: v for k, v in overrides.items() if k != "reweight_t"}
        payload["t_sweep"] = ex.t_sweep(dataset, t_values, config, seeds, sweep_overrides)
        summary = {name: {k: table["models"][name][k] for k in ("auc", "std")} for name in tuned}
        save_figure(out / "tradeoff.png", ex.plot_tradeoff(payload["t_sweep"], summary))
        print("\n t     AUC      STD      EFGD")
        for row in payload["t_sweep"]:
            print(f"{row['t']:>4g}  {row['auc']['mean']:.4f}  {row['std']['mean']:.4f}  "
                  f"{row['efgd']['mean']:.4f}")  # fmt: skip
    write_json(out / "results.json", payload)
    finish_out(out)
    print(f"wrote {out}/results.json and plots")
    return 0
