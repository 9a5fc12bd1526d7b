"""jaxrec.ops: low-level array kernels every layer may use (masked top-K slate selection)."""

from jaxrec.ops.selection import select_slate

__all__ = ["select_slate"]
