"""Ctrl-C at a chunk boundary: the first SIGINT asks a chunked run to stop after the chunk it is in.

The running command polls the returned callable after each chunk (its results already written),
stops with :class:`jaxrec.errors.Interrupted`, and the CLI prints one line and exits with 130. A
second Ctrl-C aborts at once (KeyboardInterrupt, also printed as one line).
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Callable, Iterator


@contextlib.contextmanager
def stop_requests() -> Iterator[Callable[[], bool]]:
    """Install the SIGINT handler for the block; yield a callable telling whether Ctrl-C was hit."""
    requested = False

    def handler(signum, frame) -> None:
        nonlocal requested
        if requested:
            raise KeyboardInterrupt
        requested = True
        print(
            "\nCtrl-C: stopping after the current chunk (press Ctrl-C again to abort now)",
            file=sys.stderr,
            flush=True,
        )

    if threading.current_thread() is not threading.main_thread():
        yield lambda: False  # signal handlers can only be set from the main thread
        return
    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield lambda: requested
    finally:
        signal.signal(signal.SIGINT, previous)
