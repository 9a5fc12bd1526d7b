"""jaxrec.metrics."""
