"""Equal-budget tuning of FM, AdvFM, AAFM and D-AAFM on the validation split.

Every model draws the same number of configurations from its search space (:data:`SPACE`) and keeps
the one with the best validation AUC (mean over seeds at each run's early-stopping epoch). The draws
of the shared hyper-parameters (dimension, learning rate, L2) come from one stream, so every model
tries the same (dim, lr, L2) points; the adversarial models add eps, and AAFM/D-AAFM ``t``, D-AAFM
the decay strength ``a``. Configuration 0 is always the model's preset (the defaults).

Runs that share the embedding dimension share array shapes, so all their configurations x seeds
train as one ``vmap`` (:func:`jaxrec.models.fm_training.train` with per-run
:class:`~jaxrec.models.adversarial.Hyper`); a model costs one compiled program per dimension.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxrec.data.features import FeatureDataset
from jaxrec.errors import ConfigError
from jaxrec.models.adversarial import FMTrainConfig, Hyper, hyper_of, model_config
from jaxrec.models.fm_training import TrainResult, train

# name -> candidate values; a configuration draws each of its model's names uniformly.
SPACE: dict[str, tuple[float, ...]] = {
    "dim": (16, 32, 64),
    "learning_rate": (1e-3, 2e-3, 5e-3, 1e-2),
    "l2": (0.0, 1e-6, 1e-5, 1e-4, 1e-3),
    "eps": (0.01, 0.03, 0.1, 0.3),
    "reweight_t": (1.0, 3.0, 10.0, 30.0, 100.0),
    "decay_a": (1.0, 10.0, 100.0),
}
SHARED = ("dim", "learning_rate", "l2")
MODEL_SPACE = {
    "fm": SHARED,
    "advfm": (*SHARED, "eps"),
    "aafm": (*SHARED, "eps", "reweight_t"),
    "daafm": (*SHARED, "eps", "reweight_t", "decay_a"),
}


def preset_values(name: str, config: FMTrainConfig) -> dict[str, float]:
    """The searched hyper-parameters of ``name``'s preset under ``config`` (configuration 0)."""
    adversary = model_config(name)
    values = {
        "dim": config.dim,
        "learning_rate": config.learning_rate,
        "l2": config.l2,
        "eps": adversary.eps,
        "reweight_t": 1.0 if adversary.reweight_t is None else adversary.reweight_t,
        "decay_a": adversary.decay_a,
    }
    return {key: values[key] for key in MODEL_SPACE[name]}


def draw_configurations(
    name: str, n_configs: int, config: FMTrainConfig, seed: int = 0
) -> list[dict[str, float]]:
    """``n_configs`` configurations of model ``name``: its preset, then uniform draws from
    :data:`SPACE`. Each hyper-parameter has its own random stream (``seed`` and its name), so the
    shared ones take the same values for every model."""
    if n_configs < 1:
        raise ConfigError("tune", f"needs at least 1 configuration, got {n_configs}")
    names = MODEL_SPACE[name]
    columns = {}
    for key in names:
        rng = np.random.default_rng([seed, *key.encode()])
        columns[key] = [SPACE[key][i] for i in rng.integers(0, len(SPACE[key]), n_configs - 1)]
    drawn = [{key: float(columns[key][i]) for key in names} for i in range(n_configs - 1)]
    return [preset_values(name, config), *drawn]


@dataclasses.dataclass
class TunedModel:
    """The chosen configuration of one model and its runs (one per seed).

    ``result`` holds the chosen configuration's best-validation parameters (leading seed axis);
    ``trials`` lists every configuration with its mean validation AUC and best epochs.
    """

    name: str
    chosen: dict[str, float]
    val_auc: float
    result: TrainResult
    trials: list[dict[str, Any]]


def _slice_runs(result: TrainResult, rows: np.ndarray) -> TrainResult:
    take = lambda tree: jax.tree.map(lambda a: a[rows], tree)  # noqa: E731
    history = {key: [np.asarray(v)[rows] for v in values] for key, values in result.history.items()}
    return TrainResult(
        take(result.params), result.best_epoch[rows], result.best_val_auc[rows], history,
        result.adversary,
    )  # fmt: skip


def tune_model(
    dataset: FeatureDataset,
    name: str,
    configs: Sequence[dict[str, float]],
    base: FMTrainConfig,
    seeds: Sequence[int],
    progress: Callable[[str, int, int, np.ndarray], None] | None = None,
) -> TunedModel:
    """Train every configuration of ``name`` for every seed (one ``vmap`` per dimension) and keep the
    configuration with the best mean validation AUC.

    ``progress``: optional ``(name, dim, epoch, val_auc f32[runs]) -> None``.
    """
    adversary = model_config(name)
    default = hyper_of(base, adversary)
    trials: list[dict[str, Any]] = [dict(c) for c in configs]
    results: dict[int, tuple[TrainResult, list[int]]] = {}
    for dim in sorted({int(c["dim"]) for c in configs}):
        members = [i for i, c in enumerate(configs) if int(c["dim"]) == dim]
        runs = [(i, s) for i in members for s in seeds]
        values = {
            field.name: jnp.asarray(
                [configs[i].get(field.name, float(getattr(default, field.name))) for i, _ in runs],
                jnp.float32,
            )
            for field in dataclasses.fields(Hyper)
        }
        report = None if progress is None else (lambda e, auc, d=dim: progress(name, d, e, auc))
        result = train(
            dataset, adversary, dataclasses.replace(base, dim=dim), [s for _, s in runs],
            progress=report, hypers=Hyper(**values),
        )  # fmt: skip
        for j, i in enumerate(members):
            rows = np.arange(j * len(seeds), (j + 1) * len(seeds))
            trials[i]["val_auc"] = float(result.best_val_auc[rows].mean())
            trials[i]["best_epoch"] = result.best_epoch[rows].tolist()
        results[dim] = (result, members)
    best = int(np.argmax([t["val_auc"] for t in trials]))
    result, members = results[int(configs[best]["dim"])]
    j = members.index(best)
    chosen = _slice_runs(result, np.arange(j * len(seeds), (j + 1) * len(seeds)))
    return TunedModel(name, dict(configs[best]), trials[best]["val_auc"], chosen, trials)
