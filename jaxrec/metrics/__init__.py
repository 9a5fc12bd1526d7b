"""jaxrec.metrics: accuracy, ranking and exposure-fairness metrics as pure ``jnp`` functions."""

from jaxrec.metrics.accuracy import auc, log_loss

__all__ = ["auc", "log_loss"]
