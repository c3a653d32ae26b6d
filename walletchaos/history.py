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
from collections.abc import Callable, Iterable, Iterator
from operator import attrgetter
from pathlib import Path
from typing import Any, TextIO

from . import gcpause
from .ops import CLIENT_FS, TRANSFER_FS, Fn, HistoryError, Kind, Op

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
        _place(rec, i, zero)
    return merged


def _place(rec: dict[str, Any], index: int, zero: int) -> None:
    """Numbers a merged record and moves it to ``zero`` (its time, and its intended start when set)."""
    rec["index"] = index
    if zero:
        rec["time"] -= zero
        if rec.get("intended") is not None:
            rec["intended"] -= zero


def merge_files(
    out: Path,
    *streams: list[dict[str, Any]] | Path,
    zero: int = 0,
    number: bool = True,
    vouched: bool = False,
) -> bool:
    """``merge`` into the file ``out`` without holding the records: DuckDB sorts the streams' lines by time
    (ties in stream order, then line order: as ``merge``'s stable sort), spilling beyond its memory, and
    each record is numbered, moved to ``zero`` and written as ``write`` writes it: its integers rewritten in
    its text (``_renumbered``), or parsed and written again when they are not where the writers put them
    (``number`` False: each line as it was, in time order, for a reader that numbers them later). Streams
    in memory (the harness's few records) go through a file beside ``out``. False, and nothing written,
    when DuckDB cannot read a stream's file as the Python reader would (``_well_formed``): the caller
    merges in memory then. ``vouched``: the streams' files were written by ``merge_files`` itself from
    checked ones (no scan)."""
    import duckdb

    from . import duck

    if not vouched and not all(_well_formed(s) for s in streams if isinstance(s, Path)):
        return False
    assert number or not zero, "moving the records to zero numbers them"
    parts: list[str] = []
    made: list[Path] = []
    try:
        with duck.connection() as db:
            for n, stream in enumerate(streams):
                path = stream if isinstance(stream, Path) else out.with_name(f".{out.name}.{n}")
                if not isinstance(stream, Path):
                    made.append(path)
                    write(path, stream)
                if path.stat().st_size:
                    read = f"read_ndjson_objects({duck.quoted(path)})"
                    parts.append(f"SELECT {n} AS s, ordinality AS line, json FROM {read} WITH ORDINALITY")
            union = " UNION ALL ".join(parts)
            # numbered: each line's top-level time, intended and index as JSON text, the check of what
            # ``_renumbered`` finds in the text
            fields = (
                "json_extract(json, ['$.time', '$.intended', '$.index'])" if number else "[json -> '$.time']"
            )
            picked = "json, v[1], v[2], v[3]" if number else "json"
            sql = f"SELECT {picked} FROM (SELECT *, {fields} AS v FROM ({union}))"
            rows = db.execute(f"{sql} ORDER BY v[1]::BIGINT, s, line") if parts else None
            with open(out, "w") as f:
                index = 0
                while rows is not None and (batch := rows.fetchmany(8192)):
                    if not number:
                        f.writelines(text + "\n" for (text,) in batch)
                        continue
                    lines = []
                    for text, *parsed in batch:
                        line = _renumbered(text, index, zero, *parsed)
                        if line is None:  # not as the writers write it: parsed and written again
                            rec = json.loads(text)
                            _place(rec, index, zero)
                            line = _ENCODE(rec)
                        lines.append(line)
                        index += 1
                    f.write("\n".join(lines))
                    f.write("\n")
    except duckdb.Error:
        out.unlink(missing_ok=True)
        return False
    finally:
        for path in made:
            path.unlink(missing_ok=True)
    return True


def _renumbered(
    text: str, index: int, zero: int, time: str | None, intended: str | None, old: str | None
) -> str | None:
    """The record ``text`` numbered ``index`` and moved to ``zero``, as ``merge`` then ``write`` would write
    it, by rewriting its integers where they are: its time, its intended and index when they are its last
    members (``Op.record``'s order), then ``,"index":N``. Everything else is kept as written, which is the
    writers' own form (``json.dumps`` with these separators). ``time``, ``intended`` and ``old`` are the
    record's top-level members as a JSON parser read them (their JSON text; None when absent). None, for
    the caller to parse and write the record, unless all of them are found where they are sure to be the
    record's own: the first ``,"time":`` with no ``{`` before it but the record's own (a member of no
    nested object), and the others just before the closing brace (a member there is a top-level one)."""
    at = text.find(',"time":')
    if at < 0 or time is None or not text.startswith(time, at + 8):
        return None
    after = at + 8 + len(time)
    tail = ""
    if intended is not None:
        tail = f',"intended":{intended}'
    if old is not None:
        tail += f',"index":{old}'
    end = len(text) - 1 - len(tail)
    if after > end or text[after] not in ",}" or not text.endswith(tail + "}") or "{" in text[1:at]:
        return None
    try:  # JSON integers only: int() refuses a fraction, an exponent or null
        moved = f',"intended":{int(intended) - zero}' if intended is not None else ""
        return f'{text[: at + 8]}{int(time) - zero}{text[after:end]}{moved},"index":{index}}}'
    except ValueError:
        return None


_ENCODE = json.JSONEncoder(separators=(",", ":")).encode
"""A record's JSON as every writer of a history writes it: compact, as ``json.dumps`` with these separators
(the encoder made once: ``json.dumps`` makes one per call when given any option)."""


def as_line(rec: dict[str, Any]) -> str:
    """A record as one JSONL line (``write``'s, the load process's recorder's)."""
    return _ENCODE(rec) + "\n"


def write(path: Path, records: Iterable[dict[str, Any]], default: Callable[[Any], Any] | None = None) -> None:
    with open(path, "w") as f:
        append(f, records, default)


def append(
    file: TextIO, records: Iterable[dict[str, Any]], default: Callable[[Any], Any] | None = None
) -> None:
    """Writes ``records`` to an open JSONL ``file``, one ``as_line`` each; ``default`` writes what JSON has no
    form for (as ``json.dumps``'s: without it, such a value raises)."""
    encode = _ENCODE if default is None else json.JSONEncoder(separators=(",", ":"), default=default).encode
    for rec in records:
        file.write(encode(rec) + "\n")


def read(path: Path) -> list[dict[str, Any]]:
    """Every record of a JSONL history (``records``), held as a list with the collector paused."""
    with gcpause.paused():
        return list(records(path))


class _KeyTwice(Exception):
    """A JSON object holding a key twice (not a ValueError: that is a line cut short)."""


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    made = dict(pairs)
    if len(made) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _KeyTwice(key)
            seen.add(key)
    return made


_decode = json.JSONDecoder(object_pairs_hook=_object).decode
"""json.loads, refusing an object with a key twice: Python's reader keeps the last of the two and DuckDB's
(the judge's columns) the first, so such a line would be judged on one value and worded with the other."""


def records(path: Path) -> Iterator[dict[str, Any]]:
    """The records of a JSONL history one at a time (the file is never held whole), each checked against the
    schema (``ops.Op``). A last line cut short (the writer was killed mid-write) is skipped; a broken or
    off-schema line anywhere else, or one with a key twice in an object, is a HistoryError naming the file,
    the line and the field."""
    broken: tuple[int, ValueError] | None = None  # a line that is not JSON: fine only if it is the last
    with open(path) as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            if broken is not None:
                raise HistoryError(f"{path}:{broken[0]}: not JSON: {broken[1]}")
            try:
                rec = _decode(line)
            except _KeyTwice as twice:
                try:
                    json.loads(line)
                except ValueError as exc:  # a line cut short after an inner object with a key twice
                    broken = (number, exc)
                    continue
                raise HistoryError(
                    f"{path}:{number}: the key {twice.args[0]!r} twice in one object"
                ) from None
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
        """Every record checked once (``records``): a HistoryError for the first broken or off-schema line.
        A DuckDB scan vouches for a well-formed file (2.5M records: ~4 s, the Python pass ~22 s); only
        when it finds anything does the Python pass run, to skip a last line cut short or to name the line."""
        if _well_formed(self.path):
            return
        for _ in self:
            pass


def _well_formed(path: Path) -> bool:
    """Whether every non-blank line of ``path`` is a JSON object that ``Op.check`` accepts, with no key
    twice in it, its ``value`` or the value's ``response`` (the objects whose fields DuckDB reads; the Python
    reader refuses a key twice anywhere); False also when DuckDB cannot read a line (a line cut short, or
    JSON Python reads and DuckDB does not, such as NaN)."""
    import duckdb

    from . import duck

    def listed(names: Iterable[str]) -> str:
        return ", ".join("'" + n.replace("'", "''") + "'" for n in names)

    ints = "('BIGINT', 'UBIGINT')"
    kinds, fns = listed(k.value for k in Kind), listed(f.value for f in Fn)
    # each line is parsed twice (the six fields at once, and the keys of its three objects at once), not once
    # per condition: ~4 s at 1M transfers instead of 7.5; '$.type' exists only in an object, and a key sits
    # at its first position only when it is not there twice
    sql = f"""SELECT count(*) FILTER (WHERE NOT coalesce(
            json_type(x[1]) = 'VARCHAR' AND x[1] ->> '$' IN ({kinds})
            AND json_type(x[2]) = 'VARCHAR' AND x[2] ->> '$' IN ({fns})
            AND json_type(x[3]) IN {ints} AND json_type(x[4]) IN {ints}
            AND json_type(x[5]) IN ('BIGINT', 'UBIGINT', 'VARCHAR')
            AND coalesce(json_type(x[6]), 'NULL') IN ('OBJECT', 'NULL')
            AND list_bool_and(list_transform(keys, lambda k: coalesce(
                list_bool_and(list_transform(k, lambda key, i: list_position(k, key) = i)), true))), false))
        FROM (SELECT json_extract(json, ['$.type', '$.f', '$.op', '$.time', '$.process', '$.value']) AS x,
            json_keys(json, ['$', '$.value', '$.value.response']) AS keys
        FROM read_ndjson_objects({duck.quoted(path)}))"""
    try:
        with duck.connection() as db:
            return db.execute(sql).fetchone() == (0,)
    except duckdb.Error:
        return False
