"""jaxrec.agents."""
