"""The run's client calls for the reports: paired as the judge pairs them (``judge.columns.Columns``:
``history.pair``'s pairing in an embedded DuckDB, memory-bounded, spilling beyond its limit), queried for
aggregates, so the reports of a long run hold per-bucket and per-operation figures, never a record per call.
The history is read into them once per stored run; what a report derives from them is made once (``once``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from walletchaos.judge.columns import Columns
from walletchaos.store import StoredRun

T = TypeVar("T")


def once(run: StoredRun, name: str, make: Callable[[Columns], T]) -> T:
    """``make(columns)`` the first time a report asks for ``name`` of this run; its answer after that."""
    cache: dict[str, Any] = run.cache
    if name not in cache:
        cache[name] = make(run.columns())  # the judge's read of the history
    return cache[name]  # type: ignore[no-any-return]
