"""jaxrec.envs."""
