"""jaxrec.experiments: drivers, tidy result frames, summaries and plots built on the library."""
