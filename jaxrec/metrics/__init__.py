"""jaxrec.metrics: accuracy, ranking and exposure-fairness metrics as pure ``jnp`` functions.

All of them trace under ``jit`` and ``vmap``, return float32 and never NaN (see each docstring for
the value returned on degenerate input). :func:`lorenz_curve` alone is NumPy, for plots.
"""

from jaxrec.metrics.accuracy import auc, log_loss
from jaxrec.metrics.bootstrap import (
    basic_interval,
    block_resample_counts,
    percentile_interval,
    resample_counts,
    significant,
    weighted_mean,
)
from jaxrec.metrics.exposure import (
    POSITION_WEIGHT_KINDS,
    bucket_shares,
    entropy,
    gini,
    group_exposure_ratio,
    hhi,
    long_tail_coverage,
    lorenz_curve,
    position_weights,
    top_share,
)
from jaxrec.metrics.ranking import (
    f1,
    hit_rate_at_k,
    hits_from_ranking,
    ndcg_at_k,
    popularity_rate,
    precision_at_k,
    recall_at_k,
)
from jaxrec.metrics.stochastic_exposure import (
    expected_exposure,
    expected_exposure_loss,
    target_exposure,
)

__all__ = [
    "POSITION_WEIGHT_KINDS",
    "auc",
    "basic_interval",
    "block_resample_counts",
    "bucket_shares",
    "entropy",
    "expected_exposure",
    "expected_exposure_loss",
    "f1",
    "gini",
    "group_exposure_ratio",
    "hhi",
    "hit_rate_at_k",
    "hits_from_ranking",
    "log_loss",
    "long_tail_coverage",
    "lorenz_curve",
    "ndcg_at_k",
    "percentile_interval",
    "popularity_rate",
    "position_weights",
    "precision_at_k",
    "recall_at_k",
    "resample_counts",
    "significant",
    "target_exposure",
    "top_share",
    "weighted_mean",
]
