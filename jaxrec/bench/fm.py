"""Seconds per clean and adversarial FM epoch (AAFM or AdvFM adversary) on ML-100K-sized data, 1 and S seeds."""

from __future__ import annotations

import argparse
from typing import Any

import jax
import jax.numpy as jnp

from jaxrec.bench import device_info, time_compiled, time_interleaved
from jaxrec.data.fm_synthetic import synthetic_feature_data
from jaxrec.models.adversarial import FMTrainConfig, feature_tables, model_config
from jaxrec.models.fm_training import init_params, make_optimizer, train_epoch

# Users, items, genres, release decades of ML-100K's item-centric feature set.
ML100K_ITEM_FIELDS = (943, 1682, 19, 8)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--samples", type=int, default=200_000, help="training samples per epoch")
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 5], help="batch sizes in seeds")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--adversaries",
        nargs="+",
        choices=("advfm", "aafm"),
        default=["aafm"],
        help="adversaries to time, each named in its rows (the public code's is AAFM)",
    )


def _epoch_call(
    dataset, config: FMTrainConfig, adversary_name: str, n_seeds: int, adversarial: bool
):
    """A zero-argument call running one (clean or adversarial) epoch for ``n_seeds`` seeds."""
    adversary = model_config(adversary_name)
    keys = jax.random.split(jax.random.key(0), n_seeds)
    params = jax.vmap(lambda k: init_params(k, dataset, config, adversary))(keys)
    opt_state = jax.vmap(make_optimizer(config).init)(params)
    tables = feature_tables(dataset)
    ids, labels = jnp.asarray(dataset.train.feature_ids), jnp.asarray(dataset.train.labels)
    epoch = jnp.float32(2.0)

    def call():
        return train_epoch(
            params, opt_state, keys, ids, labels, tables, epoch, config, adversary, adversarial
        )

    return call


def run(args: argparse.Namespace) -> dict[str, Any]:
    # Validation and test get 1% each so the training split has ~``samples`` rows.
    dataset = synthetic_feature_data(
        n_samples=int(args.samples / 0.98) + 1,
        field_sizes=ML100K_ITEM_FIELDS,
        valid_fraction=0.01,
        test_fraction=0.01,
    )
    config = FMTrainConfig(dim=args.dim, batch_size=args.batch_size)
    n_train = len(dataset.train)
    per_epoch = n_train // args.batch_size * args.batch_size
    record: dict[str, Any] = {
        "benchmark": "fm",
        "train_samples": n_train,
        "samples_per_epoch": per_epoch,
        "batch_size": args.batch_size,
        "dim": args.dim,
        "fields": len(ML100K_ITEM_FIELDS),
        "table_rows": dataset.n_features,
        "adversaries": list(args.adversaries),
        "by_seeds": [],
    }
    calls, rows = {}, {}
    for n_seeds in args.seeds:
        for adversary in args.adversaries:
            row = rows[n_seeds, adversary] = {"seeds": n_seeds, "adversary": adversary}
            for kind in ("clean", "adversarial"):
                call = _epoch_call(dataset, config, adversary, n_seeds, kind == "adversarial")
                row[f"{kind}_first_call_s"] = time_compiled(call, repeats=0)[0]
                calls[n_seeds, adversary, kind] = call
    # Interleaved rounds, so that load from other processes hits every variant alike.
    for (n_seeds, adversary, kind), best in time_interleaved(calls, args.repeats).items():
        rows[n_seeds, adversary][f"seconds_per_{kind}_epoch"] = best
        rows[n_seeds, adversary][f"{kind}_samples_per_s"] = n_seeds * per_epoch / best
    record["by_seeds"] = list(rows.values())
    single = next((r for r in record["by_seeds"] if r["seeds"] == 1), record["by_seeds"][0])
    record["adversary"] = single["adversary"]
    record["seconds_per_adversarial_epoch"] = single["seconds_per_adversarial_epoch"]
    record["seconds_per_clean_epoch"] = single["seconds_per_clean_epoch"]
    record["device"] = device_info()
    return record
