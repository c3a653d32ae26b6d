"""Python's cyclic garbage collector paused while bulk data is built.

Reading or judging a history builds millions of small dicts and lists and no garbage cycles; the collector
would walk all of them again and again as they pile up (13% of the judge's time at 100k transfers, a third
of reading a history). Standard library only.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused() -> Iterator[None]:
    """Collector off inside the block, back as it was afterwards (nested blocks leave it to the outer)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
