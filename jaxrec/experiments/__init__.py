"""jaxrec.experiments: run drivers, tidy result frames, summaries, plots and dashboards built on the
library packages (the layer the commands and notebooks call)."""
