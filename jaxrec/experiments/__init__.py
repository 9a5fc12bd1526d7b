"""Experiment drivers: tuning, tidy result tables and summaries built on the library layers."""
