"""Process-level helpers shared by the long-running jobs (dispatch, matching)."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector for a burst of work that makes many objects
    which reference counting frees (rendered messages, profiles, reasons): collections
    during it find almost nothing, yet each full one walks every object alive. It runs
    again (and catches up) afterwards; nested uses leave it paused until the outermost
    ends."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
