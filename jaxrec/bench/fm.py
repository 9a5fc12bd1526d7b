"""Seconds per clean and adversarial (AAFM) FM epoch on ML-100K-sized data, for 1 and S seeds batched."""

from __future__ import annotations

import argparse
from typing import Any

import jax
import jax.numpy as jnp

from jaxrec.bench import device_info, time_compiled
from jaxrec.data.fm_synthetic import synthetic_feature_data
from jaxrec.models.adversarial import (
    FMTrainConfig,
    feature_tables,
    init_params,
    make_optimizer,
    model_config,
    train_epoch,
)

# Users, items, genres, release decades of ML-100K's item-centric feature set.
ML100K_ITEM_FIELDS = (943, 1682, 19, 8)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--samples", type=int, default=200_000, help="training samples per epoch")
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 5], help="batch sizes in seeds")
    parser.add_argument("--repeats", type=int, default=3)


def _epoch_seconds(dataset, config: FMTrainConfig, n_seeds: int, adversarial: bool, repeats: int):
    adversary = model_config("aafm")
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

    return time_compiled(call, repeats=repeats)


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
        "model": "aafm",
        "by_seeds": [],
    }
    for n_seeds in args.seeds:
        row: dict[str, Any] = {"seeds": n_seeds}
        for kind, adversarial in (("clean", False), ("adversarial", True)):
            first, best = _epoch_seconds(dataset, config, n_seeds, adversarial, args.repeats)
            row[f"seconds_per_{kind}_epoch"] = best
            row[f"{kind}_first_call_s"] = first
            row[f"{kind}_samples_per_s"] = n_seeds * per_epoch / best
        record["by_seeds"].append(row)
    single = next((r for r in record["by_seeds"] if r["seeds"] == 1), record["by_seeds"][0])
    record["seconds_per_adversarial_epoch"] = single["seconds_per_adversarial_epoch"]
    record["seconds_per_clean_epoch"] = single["seconds_per_clean_epoch"]
    record["device"] = device_info()
    return record
