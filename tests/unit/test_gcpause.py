"""gcpause.settle: the start-up heap frozen out of the collector's sight, without freezing garbage and
without stopping later collections."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from walletchaos import gcpause


class Node:
    """A cycle: collectable only by the cyclic collector."""

    def __init__(self) -> None:
        self.me = self


@pytest.fixture
def frozen() -> Iterator[None]:
    yield
    gc.unfreeze()  # back to the oldest generation, as if settle had never run


def test_settle_collects_start_up_garbage_and_freezes_the_rest(frozen: None) -> None:
    kept = Node()
    garbage = weakref.ref(Node())  # unreachable from the start: a cycle only a collection frees
    assert garbage() is not None
    gcpause.settle()
    assert garbage() is None, "the start-up garbage was frozen with the heap (it would never be freed)"
    assert gc.get_freeze_count() > 0
    assert all(o is not kept for o in gc.get_objects()), "a live start-up object is still walked"


def test_what_the_work_makes_after_settling_is_still_collected(frozen: None) -> None:
    gcpause.settle()
    later = weakref.ref(Node())
    gc.collect()
    assert later() is None
