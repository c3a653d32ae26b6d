"""The history: ONE append-only list of operations, client calls and fault actions alike.

Each operation is two records, an ``invoke`` and its completion (``ok`` | ``fail`` | ``info``), with the
same ``process`` and ``op`` id. The schema is ``ops.Op`` (kinds and functions are enums defined there
once; every writer builds its records with it, and ``read`` checks each line against it). Record fields:

- ``index``    position in the merged history (assigned when the run's records are merged by time)
- ``process``  who acted: a load user number, ``"nemesis"`` for faults, ``"setup"`` / ``"audit"``
- ``op``       id shared by an invoke and its completion
- ``type``     ``invoke`` | ``ok`` (definitely happened) | ``fail`` (definitely did not) | ``info`` (unknown)
- ``f``        what (``ops.Fn``): client calls ``pay``, ``p2p``, ``refund``, ``unauthorized``, ``balance``,
               ``login``, ``attack``, ``auth_probe``; ``apply`` / ``heal`` / ``crash`` for faults;
               ``accounts``, ``snapshot``, ``load_exit``, ``abort`` for the harness
- ``value``    arguments and results: accounts, amount, idempotency ``key``, ``as`` (session account) ...
- ``time``     monotonic ns since the load's shape started (``load_start``, time 0 of the fault schedule and
               of every report; set-up ops before it are negative; histories without ``load_start`` count
               from the harness's start); ``intended`` the scheduled start (coordinated omission)
- ``status``   HTTP status (0 for a transport error); ``error`` an error code or exception name
- ``fault``, ``target``, ``params`` for fault actions

A timeout, reset or 5xx other than a declared 503 is ``info``, never ``fail``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from operator import attrgetter
from pathlib import Path
from typing import Any

from . import gcpause
from .ops import CLIENT_FS, TRANSFER_FS, HistoryError, Op

__all__ = ["CLIENT_FS", "TRANSFER_FS", "Call", "HistoryError", "merge", "pair", "read", "write"]


class Call:
    """An invoke paired with its completion (``done`` is None when the run ended first: treated as info).
    Its views (``f``, ``start``, ``value``...) are plain attributes computed once, when paired: the judge
    reads them millions of times. Read them, never change them (``value`` may be the invoke's own dict)."""

    __slots__ = ("done", "end", "f", "index", "invoke", "key", "start", "status", "type", "value")

    def __init__(self, invoke: dict[str, Any], done: dict[str, Any] | None) -> None:
        self.invoke = invoke
        self.done = done
        self.f: str = str(invoke["f"])
        self.start: int = int(invoke["time"])
        self.index: int = int(invoke["index"])
        asked: dict[str, Any] = invoke.get("value", {})
        key = asked.get("key")
        self.key: str | None = str(key) if key is not None else None
        if done is None:
            self.type: str = "info"
            self.end: int | None = None
            self.status: int | None = None
            self.value: dict[str, Any] = asked
        else:
            self.type = done["type"]
            self.end = int(done["time"])
            self.status = done.get("status")
            answered = done.get("value")
            self.value = {**asked, **answered} if answered else asked

    def __repr__(self) -> str:
        return f"Call({self.invoke!r}, {self.done!r})"


def pair(history: Iterable[dict[str, Any]]) -> list[Call]:
    """Pair invokes with completions by (process, op); ordered by invoke index. The first completion after an
    invoke is its outcome; a completion without an open invoke is ignored; an id invoked again starts over."""
    invokes: dict[tuple[Any, Any], dict[str, Any]] = {}
    dones: dict[tuple[Any, Any], dict[str, Any]] = {}
    for rec in history:
        ident = (rec["process"], rec["op"])
        if rec["type"] == "invoke":
            invokes[ident] = rec
            dones.pop(ident, None)
        elif ident in invokes and ident not in dones:
            dones[ident] = rec
    calls = [Call(rec, dones.get(ident)) for ident, rec in invokes.items()]
    calls.sort(key=attrgetter("index"))
    return calls


def merge(*streams: Iterable[dict[str, Any]], zero: int = 0) -> list[dict[str, Any]]:
    """Merge record streams by time (stable), then number them; ``zero`` (same clock as the streams)
    becomes time 0 of the merged history, so every reader of it shares one clock."""
    merged = sorted((r for s in streams for r in s), key=lambda r: r["time"])
    for i, rec in enumerate(merged):
        rec["index"] = i
        if zero:
            rec["time"] -= zero
            if rec.get("intended") is not None:
                rec["intended"] -= zero
    return merged


def write(path: Path, records: Iterable[dict[str, Any]]) -> None:
    with open(path, "w") as f:
        for rec in records:
            f.write(json.dumps(rec, separators=(",", ":")) + "\n")


def read(path: Path) -> list[dict[str, Any]]:
    """Every record of a JSONL history (``records``), held as a list with the collector paused."""
    with gcpause.paused():
        return list(records(path))


def records(path: Path) -> Iterator[dict[str, Any]]:
    """The records of a JSONL history one at a time (the file is never held whole), each checked against the
    schema (``ops.Op``). A last line cut short (the writer was killed mid-write) is skipped; a broken or
    off-schema line anywhere else is a HistoryError naming the file, the line and the field."""
    broken: tuple[int, ValueError] | None = None  # a line that is not JSON: fine only if it is the last
    with open(path) as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            if broken is not None:
                raise HistoryError(f"{path}:{broken[0]}: not JSON: {broken[1]}")
            try:
                rec = json.loads(line)
            except ValueError as exc:
                broken = (number, exc)
                continue
            try:
                Op.check(rec)
            except HistoryError as exc:
                raise HistoryError(f"{path}:{number}: {exc}") from None
            yield rec


class File:
    """A history file as an iterable of its records: each iteration reads it again (``records``), so a long
    run's history is never held in memory by those who only pass over it."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return records(self.path)

    def check(self) -> None:
        """Reads every record once: a HistoryError for the first broken or off-schema line."""
        for _ in self:
            pass
