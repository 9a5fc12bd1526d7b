"""Supervised scorers: factorization machines (FM, AdvFM, AAFM, D-AAFM) and matrix factorization."""

from jaxrec.models import mf
from jaxrec.models.adversarial import AdversaryConfig, FMTrainConfig, model_config
from jaxrec.models.fm import (
    FM,
    bce_with_logits,
    fm_logits,
    fm_logits_from_embeddings,
    init_fm_params,
)
from jaxrec.models.fm_training import TrainResult, evaluate, perturbed_auc, train

__all__ = [
    "FM",
    "AdversaryConfig",
    "FMTrainConfig",
    "TrainResult",
    "bce_with_logits",
    "evaluate",
    "fm_logits",
    "fm_logits_from_embeddings",
    "init_fm_params",
    "mf",
    "model_config",
    "perturbed_auc",
    "train",
]
