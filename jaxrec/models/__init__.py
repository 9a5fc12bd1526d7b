"""Supervised scorers: factorization machines (FM, AdvFM, AAFM, D-AAFM) and matrix factorization."""

from jaxrec.models.fm import (
    FM,
    bce_with_logits,
    fm_logits,
    fm_logits_from_embeddings,
    init_fm_params,
)

__all__ = ["FM", "bce_with_logits", "fm_logits", "fm_logits_from_embeddings", "init_fm_params"]
