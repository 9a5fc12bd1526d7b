"""jaxrec.sweep."""
