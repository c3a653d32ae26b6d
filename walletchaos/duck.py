"""The harness's DuckDB connections (the judge's columns, the history's check and merge): each in-memory,
memory-bounded and spilling to a directory of its own beyond the limit, never drawing a progress bar."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

MEMORY_LIMIT = os.environ.get("WALLETCHAOS_JUDGE_MEMORY", "768MB")
"""DuckDB's memory limit for the judge's tables and the history's sort (beyond it, they spill)."""

THREADS = min(4, os.cpu_count() or 1)


def connect(spill: Path, threads: int = THREADS) -> duckdb.DuckDBPyConnection:
    """A connection spilling to ``spill`` (the caller's to remove, after closing it)."""
    db = duckdb.connect(config={"memory_limit": MEMORY_LIMIT, "threads": threads})
    db.execute("SET temp_directory = '" + str(spill).replace("'", "''") + "'")
    db.execute("SET enable_progress_bar = false")  # on by default in an interactive session
    return db


@contextmanager
def connection(threads: int = THREADS) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection and its spill directory, both gone on exit."""
    with tempfile.TemporaryDirectory(prefix="walletchaos-duckdb-") as spill:
        db = connect(Path(spill), threads)
        try:
            yield db
        finally:
            db.close()


def quoted(path: Path) -> str:
    """A path as an SQL string literal."""
    return "'" + str(path).replace("'", "''") + "'"
