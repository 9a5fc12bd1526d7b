"""Experiment layer: drivers, tidy frames, summaries and plots built on the library packages."""
