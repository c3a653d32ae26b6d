"""The client history and the audit's ledger as columns: DuckDB tables the judge's relational checks query.

A long run holds millions of client calls and postings; as Python dicts they cost ~1.6 KB each and every
check walks them. Here they are two tables in an embedded DuckDB (memory-bounded, spilling to a temporary
directory beyond the limit):

- ``calls``: one row per client call (``history.CLIENT_FS``), an invoke paired with its completion exactly
  as ``history.pair`` pairs them: by (process, op), the last invoke of an id with the first completion after
  it (``done`` NULL when the run ended first: type ``info``). ``value`` is the merged view
  ``{**invoke.value, **completion.value}``, field by field; ids are opaque strings (``facts.aid``).
- ``ledger``: one row per posting of the run's accounts, with ``account``/``tid`` as opaque strings.

Nothing here decides validity: the checks in ``money`` and friends query these tables and word what they
find in Python, from the offending rows only.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import duckdb

from ..history import Call
from ..ops import CLIENT_FS, TRANSFER_FS

MEMORY_LIMIT = os.environ.get("WALLETCHAOS_JUDGE_MEMORY", "768MB")
"""DuckDB's memory limit for the judge's tables (beyond it, they spill to a temporary directory)."""

_HISTORY_COLUMNS = (
    "{process: 'JSON', op: 'JSON', type: 'VARCHAR', f: 'VARCHAR', time: 'BIGINT', value: 'JSON', "
    "status: 'JSON', error: 'JSON', intended: 'BIGINT', index: 'BIGINT'}"
)
_LEDGER_COLUMNS = (
    "{seq: 'JSON', transfer_id: 'JSON', idempotency_key: 'JSON', account: 'JSON', delta: 'BIGINT'}"
)

# aid(): an opaque id as Python's str() shows it (7 and "7" name the same account; None is 'None').
_AID = """CREATE MACRO aid(j) AS CASE json_type(j)
    WHEN 'VARCHAR' THEN j->>'$' WHEN 'NULL' THEN 'None' WHEN 'BOOLEAN' THEN
    CASE WHEN j::VARCHAR = 'true' THEN 'True' ELSE 'False' END ELSE j::VARCHAR END"""


_VALUE_FIELDS = (
    "from",
    "to",
    "amount",
    "account",
    "as",
    "via",
    "probe",
    "refund_of",
    "legit",
    "id",
    "balance",
)


def _field(name: str) -> str:
    """value.name of the merged view {**asked, **answered} (JSON): the answer's field when it has one."""
    path = f"'$.\"{name}\"'"
    return f"coalesce((answered -> {path}), (asked -> {path}))"


TRANSFERS = "f IN (" + ", ".join(f"'{f}'" for f in TRANSFER_FS) + ") AND key IS NOT NULL AND key <> ''"
"""The calls ``Facts.by_key`` holds: transfer calls with a (non-empty) idempotency key."""

_CALL_COLUMNS = 'idx, process, op, f, type, start, "end", status_json, error, invoke_error, intended, asked, answered, done'
_POSTING = "seq, transfer_id, idempotency_key, account_json, delta"


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _call(row: tuple[Any, ...]) -> Call:
    """A ``history.Call`` from its row: the invoke's and the completion's records, as far as the judge reads
    them (the schema's fields)."""
    idx, process, op, f, kind, start, end, status, error, invoke_error, intended, asked, answered, done = row
    ident = {"process": json.loads(process), "op": json.loads(op), "f": f}
    invoke = {**ident, "type": "invoke", "time": start, "index": idx}
    for name, value in (("value", _loads(asked)), ("error", _loads(invoke_error)), ("intended", intended)):
        if value is not None:
            invoke[name] = value
    completion = None
    if done:
        completion = {**ident, "type": kind, "time": end}
        for name, value in (
            ("value", _loads(answered)),
            ("status", _loads(status)),
            ("error", _loads(error)),
        ):
            if value is not None:
                completion[name] = value
    return Call(invoke, completion)


def _posting(row: list[Any]) -> dict[str, Any]:
    seq, tid, key, account, delta = row
    return {
        "seq": _loads(seq),
        "transfer_id": _loads(tid),
        "idempotency_key": _loads(key),
        "account": _loads(account),
        "delta": delta,
    }


class Columns:
    """The judge's tables, in a connection of their own (closed with ``close``)."""

    def __init__(self, history: Path, ledger: Path, accounts: Iterable[str]) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="walletchaos-judge-")
        self.db = duckdb.connect(
            config={"memory_limit": MEMORY_LIMIT, "threads": min(4, os.cpu_count() or 1)}
        )
        self.db.execute(f"SET temp_directory = '{self._tmp.name}'")
        self.db.execute(_AID)
        self.db.execute("CREATE TABLE run_accounts (account VARCHAR PRIMARY KEY)")
        self.db.execute("INSERT INTO run_accounts SELECT unnest(?::VARCHAR[])", [sorted(set(accounts))])
        self._load_calls(history)
        self._load_ledger(ledger)

    @classmethod
    def from_records(
        cls, history: Iterable[dict[str, Any]], ledger: Iterable[dict[str, Any]], accounts: Iterable[str]
    ) -> Columns:
        """Columns of in-memory records (unit tests, a run judged right after its load), written once to
        temporary JSONL files DuckDB reads."""
        with tempfile.TemporaryDirectory(prefix="walletchaos-judge-in-") as tmp:
            h, g = Path(tmp) / "history.jsonl", Path(tmp) / "ledger.jsonl"
            _write_jsonl(h, (r for r in history if r.get("f") in CLIENT_FS))
            _write_jsonl(g, ledger)
            return cls(h, g, accounts)

    def _load_calls(self, path: Path) -> None:
        fs = ", ".join(f"'{f}'" for f in CLIENT_FS)
        self.db.execute(
            f"""CREATE TEMP TABLE h AS SELECT ordinality AS pos, process::VARCHAR AS process, op::VARCHAR AS op,
                type, f, time, value, status, error, intended, index
            FROM read_json('{path}', format = 'newline_delimited', columns = {_HISTORY_COLUMNS}) WITH ORDINALITY
            WHERE f IN ({fs})"""
        )
        # history.pair: the last invoke of an id, and the first completion after it (in record order)
        self.db.execute(
            "CREATE TEMP TABLE inv AS SELECT process, op, max(pos) AS ipos FROM h WHERE type = 'invoke' "
            "GROUP BY ALL"
        )
        self.db.execute(
            """CREATE TEMP TABLE dn AS SELECT h.process, h.op, min(h.pos) AS dpos FROM h JOIN inv
                ON h.process = inv.process AND h.op = inv.op AND h.type <> 'invoke' AND h.pos > inv.ipos
            GROUP BY ALL"""
        )
        self.db.execute(
            """CREATE TEMP TABLE paired AS SELECT i.index AS idx, inv.process, inv.op, i.f,
                coalesce(d.type, 'info') AS type, i.time AS start, d.time AS "end", d.status AS status_json,
                TRY_CAST(d.status AS BIGINT) AS status, d.error, i.error AS invoke_error, i.intended,
                i.value AS asked,
                d.value AS answered, d.type IS NOT NULL AS done
            FROM inv JOIN h i ON i.pos = inv.ipos
            LEFT JOIN dn ON dn.process = inv.process AND dn.op = inv.op
            LEFT JOIN h d ON d.pos = dn.dpos"""
        )
        for name in ("h", "inv", "dn"):
            self.db.execute(f"DROP TABLE {name}")
        keyed = "(asked -> '$.key')"
        fields = ", ".join(f'{_field(n)} AS "{n}"' for n in _VALUE_FIELDS)
        self.db.execute(
            f"""CREATE TABLE calls AS SELECT *,
                CASE WHEN {keyed} IS NULL OR json_type({keyed}) = 'NULL' THEN NULL ELSE aid({keyed}) END AS key,
                {fields}
            FROM paired"""
        )
        self.db.execute("DROP TABLE paired")

    def _load_ledger(self, path: Path) -> None:
        self.db.execute(
            f"""CREATE TEMP TABLE g AS SELECT ordinality AS pos, * FROM read_json('{path}',
            format = 'newline_delimited', columns = {_LEDGER_COLUMNS}) WITH ORDINALITY"""
        )
        self.db.execute(
            """CREATE TABLE ledger AS SELECT pos, seq, transfer_id, idempotency_key, account AS account_json,
                aid(transfer_id) AS tid, aid(idempotency_key) AS key, aid(account) AS account, delta FROM g
            WHERE aid(account) IN (SELECT account FROM run_accounts)"""
        )
        self.db.execute("DROP TABLE g")

    def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        return self.db.execute(sql, list(params)).fetchall()

    def one(self, sql: str, *params: Any) -> Any:
        """The first column of the first row."""
        row = self.db.execute(sql, list(params)).fetchone()
        return row[0] if row else None

    def keys(self, sql: str, *params: Any) -> list[str]:
        """The first column of every row (keys, accounts)."""
        return [r[0] for r in self.db.execute(sql, list(params)).fetchall()]

    def calls(self, where: str, *params: Any) -> list[Call]:
        """Client calls as ``history.Call`` (built from their records), in history order: for the few a check
        words, never for all."""
        sql = f"SELECT {_CALL_COLUMNS} FROM calls WHERE {where} ORDER BY idx"
        return [_call(row) for row in self.db.execute(sql, list(params)).fetchall()]

    def by_key(self, keys: Iterable[str]) -> dict[str, list[Call]]:
        """``Facts.by_key`` for these keys only: key -> its transfer calls in history order."""
        out: dict[str, list[Call]] = {}
        for c in self.calls(f"{TRANSFERS} AND key IN (SELECT unnest(?::VARCHAR[]))", sorted(set(keys))):
            out.setdefault(c.key or "", []).append(c)
        return out

    def ledger_keys(self, keys: Iterable[str]) -> dict[str, dict[str, list[dict[str, Any]]]]:
        """``Facts.ledger_keys`` for these keys only: key -> transfer id -> postings, in ledger order."""
        out: dict[str, dict[str, list[dict[str, Any]]]] = {}
        rows = self.rows(
            f"SELECT key, tid, {_POSTING} FROM ledger WHERE key IN (SELECT unnest(?::VARCHAR[])) ORDER BY pos",
            sorted(set(keys)),
        )
        for key, tid, *posting in rows:
            out.setdefault(key, {}).setdefault(tid, []).append(_posting(posting))
        return out

    def close(self) -> None:
        self.db.close()
        self._tmp.cleanup()


def _write_jsonl(path: Path, records: Iterable[dict[str, Any]]) -> None:
    dumps = json.JSONEncoder(separators=(",", ":"), default=str).encode
    with open(path, "w") as out:
        for rec in records:
            out.write(dumps(rec))
            out.write("\n")
