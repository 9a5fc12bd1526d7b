"""Low-level array kernels (slate selection) that every layer above may use."""
