"""``jaxrec fm``: train FM, AdvFM, AAFM and D-AAFM (seeds batched) and evaluate feature fairness."""

from __future__ import annotations

import argparse

from jaxrec.commands._options import add_out, nonnegative_int, number_list

MODELS = ("fm", "advfm", "aafm", "daafm")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "fm",
        help="adversarial factorization machines (FM/AdvFM/AAFM/D-AAFM) with feature-fairness metrics",
        description=(
            "Train the chosen models, all seeds in one compiled program, with early stopping on "
            "validation AUC; write DIR/results.json (AUC, log loss, EFGD, STD and bucket AUCs, mean "
            "and std over seeds), print the paper-shaped tables and plot bucket AUCs and the rarest "
            "bucket's validation AUC per epoch. --t-sweep adds the accuracy-vs-fairness curve, "
            "--robustness the relative AUC drop under embedding noise of norm 0.5, 1 and 2."
        ),
    )
    parser.add_argument("--model", choices=(*MODELS, "all"), default="all")
    parser.add_argument("--data", choices=("synthetic", "ml-100k"), default="synthetic")
    parser.add_argument("--data-dir", help="folder with u.data, u.user, u.item (for ml-100k)")
    parser.add_argument("--setting", choices=("item", "user"), default="item",
                        help="ML-100K feature set: item-centric or user-centric")  # fmt: skip
    parser.add_argument("--seeds", type=int, default=3, help="number of seeds (default 3)")
    add_out(parser)
    parser.add_argument("--epochs", type=int, default=40, help="maximum epochs (default 40)")
    parser.add_argument("--patience", type=int, default=3)
    parser.add_argument("--dim", type=int, default=None,
                        help="embedding dim (default 64 for ml-100k, 16 for synthetic)")  # fmt: skip
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--lr", type=float, default=5e-3)
    parser.add_argument("--l2", type=float, default=1e-3)
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
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import dataclasses

    from tqdm.auto import tqdm

    from jaxrec.commands._outputs import check_out, claim_out, finish_out
    from jaxrec.data.features import ml100k_features
    from jaxrec.data.fm_synthetic import synthetic_feature_data
    from jaxrec.errors import ConfigError
    from jaxrec.io import save_figure, write_json
    from jaxrec.models import fm_experiment as ex
    from jaxrec.models.adversarial import TrainConfig

    check_out(args.out, "fm", overwrite=args.overwrite)
    t_values = number_list(args.t_sweep, "t_sweep") if args.t_sweep else None
    if args.data == "ml-100k":
        if not args.data_dir:
            raise ConfigError(
                "data_dir", "--data ml-100k needs --data-dir with u.data, u.user, u.item"
            )
        from jaxrec.data.movielens import load_ml100k

        dataset = ml100k_features(load_ml100k(args.data_dir), args.setting, seed=args.data_seed)
    else:
        dataset = synthetic_feature_data(n_samples=args.samples, seed=args.data_seed)
    dim = args.dim or (64 if args.data == "ml-100k" else 16)
    config = TrainConfig(dim, args.batch_size, args.lr, args.l2, args.epochs, args.patience,
                         args.clean_epochs)  # fmt: skip
    overrides = {k: v for k, v in (("reweight_t", args.t), ("eps", args.eps),
                                   ("normalise", args.normalise)) if v is not None}  # fmt: skip
    names = list(MODELS) if args.model == "all" else [args.model]
    seeds = list(range(args.seeds))

    bar = tqdm(total=len(names) * args.epochs, desc="fm", unit="epoch")

    def progress(name, epoch, val_auc):
        bar.set_postfix(model=name, val_auc=f"{val_auc.mean():.4f}")
        bar.update(1)

    results, summary = ex.compare_models(dataset, names, config, seeds, overrides, progress)
    bar.total = bar.n  # early stopping ends runs before --epochs
    bar.close()
    payload = {
        "data": dataset.name,
        "sizes": {
            "train": len(dataset.train),
            "valid": len(dataset.valid),
            "test": len(dataset.test),
            "features": dataset.n_features,
            "fields": list(dataset.field_names),
        },
        "seeds": seeds,
        "config": dataclasses.asdict(config) | {"overrides": overrides},
        "models": summary,
    }
    out = claim_out(args.out, "fm", overwrite=args.overwrite)
    finish_out(out)
    print(ex.format_tables(summary))
    save_figure(out / "bucket_auc.png", ex.plot_bucket_auc(summary))
    save_figure(out / "rarest_bucket_val_auc.png", ex.plot_rarest_bucket_history(results))
    if args.robustness:
        payload["robustness"] = ex.robustness(results, dataset)
        print()
        print(ex.format_robustness(payload["robustness"]))
    if t_values:
        sweep_overrides = {k: v for k, v in overrides.items() if k != "reweight_t"}
        payload["t_sweep"] = ex.t_sweep(dataset, t_values, config, seeds, sweep_overrides)
        save_figure(out / "tradeoff.png", ex.plot_tradeoff(payload["t_sweep"], summary))
        print("\n t     AUC      STD      EFGD")
        for row in payload["t_sweep"]:
            print(f"{row['t']:>4g}  {row['auc']['mean']:.4f}  {row['std']['mean']:.4f}  "
                  f"{row['efgd']['mean']:.4f}")  # fmt: skip
    write_json(out / "results.json", payload)
    print(f"wrote {out}/results.json and plots")
    return 0
