"""jaxrec.pareto."""
