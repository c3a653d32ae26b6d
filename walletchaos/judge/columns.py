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
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from .. import duck
from .. import history as hist
from ..history import Call, File
from ..ops import CLIENT_FS, TRANSFER_FS

_HISTORY_COLUMNS = (
    "{process: 'JSON', op: 'JSON', type: 'VARCHAR', f: 'VARCHAR', time: 'BIGINT', value: 'JSON', "
    "status: 'JSON', error: 'JSON', intended: 'BIGINT', index: 'BIGINT'}"
)
_LEDGER_COLUMNS = (
    "{seq: 'JSON', transfer_id: 'JSON', idempotency_key: 'JSON', account: 'JSON', delta: 'BIGINT'}"
)

# aid(): an opaque id as Python's str() shows it (7 and "7" name the same account; null or missing is
# 'None', as ``facts.aid(value.get(name))``).
_AID = """CREATE MACRO aid(j) AS CASE WHEN j IS NULL THEN 'None' WHEN starts_with(j, '"') THEN j ->> '$'
    WHEN j = 'null' THEN 'None' WHEN j = 'true' THEN 'True' WHEN j = 'false' THEN 'False'
    ELSE j::VARCHAR END"""


_VALUE_FIELDS = ("from", "to", "amount", "account", "as", "probe", "refund_of", "id", "balance")
"""The merged value's fields the checks query (``value.via`` is the invoke's own: ``asked``)."""
_RESPONSE_FIELDS = ("from", "to", "amount")
"""The answer's ``response`` fields the checks query, as ``response_<name>`` (the completion's own)."""


def _fields() -> str:
    """The value fields of the merged view {**asked, **answered} (JSON): the answer's field when it has one;
    and the answer's response fields (each record's value parsed once for all of them)."""
    asked = [f"'$.\"{n}\"'" for n in _VALUE_FIELDS]
    answered = asked + [f"'$.response.\"{n}\"'" for n in _RESPONSE_FIELDS]
    picked = [f'coalesce(a[{i}], q[{i}]) AS "{n}"' for i, n in enumerate(_VALUE_FIELDS, 1)]
    picked += [f"a[{i}] AS response_{n}" for i, n in enumerate(_RESPONSE_FIELDS, len(_VALUE_FIELDS) + 1)]
    return (
        f"{', '.join(picked)} FROM (SELECT *, json_extract(answered, [{', '.join(answered)}]) AS a, "
        f"json_extract(asked, [{', '.join(asked)}]) AS q"
    )


_CLIENT = ", ".join(f"'{f}'" for f in CLIENT_FS)
_RECORD = ("process", "op", "type", "f", "time", "value", "status", "error", "intended", "index")
"""A record's fields (``ops.Op``; no writer adds others)."""
_JSON_FIELDS = {"process", "op", "value", "status", "error"}

TRANSFERS = "f IN (" + ", ".join(f"'{f}'" for f in TRANSFER_FS) + ") AND key IS NOT NULL AND key <> ''"
"""The calls ``Facts.by_key`` holds: transfer calls with a (non-empty) idempotency key."""

_CALL_COLUMNS = (
    'idx, process, op, f, type, start, "end", status_json, error, invoke_error, intended, asked, answered, '
    "done"
)
SEQ_ORDER = "seq_number IS NULL, seq_number, seq_text, pos"
"""Ledger ``seq`` order: numbers numerically, anything else as text after them, file
order on ties (as Python's stable sort by ``(0, seq)`` or ``(1, str(seq))``)."""
POSTING = "seq_text, tid, key, account, delta, quoted"
"""A posting's columns, for ``posting_of``."""
_QUOTED = ("seq", "transfer_id", "idempotency_key", "account")
"""The posting's fields whose JSON was a string, one bit each in ``ledger.quoted`` (in this order)."""


def quoted(field: str, ledger: str = "ledger") -> str:
    """SQL: whether the posting's ``field`` (one of ``_QUOTED``) was a JSON string, for ``unaid``."""
    return f"(({ledger}.quoted >> {_QUOTED.index(field)}) & 1) = 1"


def loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _call(row: tuple[Any, ...]) -> Call:
    """A ``history.Call`` from its row: the invoke's and the completion's records, as far as the judge reads
    them (the schema's fields)."""
    idx, process, op, f, kind, start, end, status, error, invoke_error, intended, asked, answered, done = row
    ident = {"process": json.loads(process), "op": json.loads(op), "f": f}
    invoke = {**ident, "type": "invoke", "time": start, "index": idx}
    for name, value in (("value", loads(asked)), ("error", loads(invoke_error)), ("intended", intended)):
        if value is not None:
            invoke[name] = value
    completion = None
    if done:
        completion = {**ident, "type": kind, "time": end}
        for name, value in (
            ("value", loads(answered)),
            ("status", loads(status)),
            ("error", loads(error)),
        ):
            if value is not None:
                completion[name] = value
    return Call(invoke, completion)


def unaid(text: str, string: bool) -> Any:
    """The JSON value ``aid`` made ``text`` from: the string itself when it was one (``string``), else what
    the JSON text reads as (aid wrote null, true and false as Python shows them)."""
    if string:
        return text
    return _WORDS[text] if text in _WORDS else json.loads(text)


_WORDS = {"None": None, "True": True, "False": False}


def posting_of(row: list[Any]) -> dict[str, Any]:
    """A posting as the audit gave it, from its ``POSTING`` columns."""
    *texts, delta, bits = row
    fields = enumerate(zip(_QUOTED, texts, strict=True))
    return {**{name: unaid(text, bool(bits >> i & 1)) for i, (name, text) in fields}, "delta": delta}


Records = list[dict[str, Any]] | Path | File
"""Records in memory, or a JSONL file of them (a run directory's ``history.jsonl``; a stored run's
``history.File``)."""


class Columns:
    """The judge's tables, in a connection of their own (closed with ``close``). Made in two steps: the
    history first (``others`` are then its records that are not client calls, for the Python side), then
    the run's ledger once the run's accounts are known (``load_ledger``)."""

    def __init__(self, history: Records, numbered: bool = True, values: bool = True) -> None:
        """``numbered`` False: the history's records are known not to be numbered in file order (the load's
        own file sorted by time, at the end of a run), so they are read WITH ORDINALITY at once. ``values``
        False: ``calls`` without the value fields the checks query (``_VALUE_FIELDS``, ``_RESPONSE_FIELDS``),
        for a caller that needs only the pairing and the keys (the audit's unknown keys)."""
        self._tmp = tempfile.TemporaryDirectory(prefix="walletchaos-judge-")
        self._made: set[str] = set()
        history = history.path if isinstance(history, File) else history
        big = history.stat().st_size > 64 << 20 if isinstance(history, Path) else len(history) > 250_000
        # one thread for a short run: its queries are too small to share
        self.db = duck.connect(Path(self._tmp.name), duck.THREADS if big else 1)
        self.db.execute(_AID)
        self.others: list[dict[str, Any]] = []
        """The history's records that are not client calls (set-up, faults, the harness's own), as dicts."""
        self._numbered = numbered
        self._values = values
        self._read(history, "history.jsonl", self._load_calls)

    def _read(self, source: list[dict[str, Any]] | Path, name: str, load: Callable[[Path], None]) -> None:
        """``load`` a JSONL file: ``source`` itself, or its records written to a temporary one."""
        if isinstance(source, Path):
            load(source)
            return
        path = Path(self._tmp.name) / name
        hist.write(path, source, default=str)
        load(path)
        path.unlink()

    def load_ledger(self, ledger: list[dict[str, Any]] | Path, accounts: Iterable[str]) -> None:
        """The ledger's postings on ``accounts`` (the run's own)."""
        self.db.execute("CREATE TABLE run_accounts (account VARCHAR PRIMARY KEY)")
        self.db.execute("INSERT INTO run_accounts SELECT unnest(?::VARCHAR[])", [sorted(set(accounts))])
        self._read(ledger, "ledger.jsonl", self._load_ledger)
        self._derive()

    def _derive(self) -> None:
        """Tables several checks share: ``keys`` (per idempotency key of ``Facts.by_key``: its first call,
        how many calls, its first ok call, whether all failed, when first acknowledged and first sent, and
        how many transfer ids the ledger holds under it) and ``transfers`` (per ledger key and transfer id:
        how many postings, and the least and greatest (account, delta) leg, which for two postings are
        both of them in order; made first, as keys counts its transfer ids there)."""
        self.db.execute(
            """CREATE TABLE transfers AS SELECT key, tid, count(*) AS postings,
                min({'a': account, 'd': delta}) AS lo, max({'a': account, 'd': delta}) AS hi
            FROM ledger GROUP BY key, tid"""
        )
        self.db.execute(
            f"""CREATE TABLE keys AS SELECT k.*, coalesce(t.tids, 0) AS tids FROM (
                SELECT key, min(idx) AS first, count(*) AS sent,
                    min(idx) FILTER (WHERE type = 'ok') AS first_ok,
                    bool_and(type = 'fail') AS all_fail,
                    min("end") FILTER (WHERE type = 'ok' AND "end" IS NOT NULL) AS ack, min(start) AS sent_at
                FROM calls WHERE {TRANSFERS} GROUP BY key) k
            LEFT JOIN (SELECT key, count(*) AS tids FROM transfers GROUP BY key) t USING (key)"""
        )

    def _load_calls(self, path: Path) -> None:
        """Reads the history into ``h`` (every record), pairs its client calls into ``calls`` and keeps the
        other records in ``others``."""
        # Record order is the rowid of a table created from the file as it is: DuckDB keeps a scan's order
        # for CREATE TABLE AS (preserve_insertion_order), but not under a WHERE (measured: a filtered
        # table's rowids were out of file order in 12 of 12 runs). A merged history numbers its records in
        # file order (``index``), which checks it; a file that is not numbered so (or that the caller says is
        # not: ``numbered``) is read WITH ORDINALITY, which keeps file order always but costs ~1.3 s per
        # million calls.
        # ignore_errors: a last line cut short (the writer was killed mid-write) is skipped, as history.read
        # skips it; a history file is read and checked by history.read before it is judged (or was just
        # written by the harness), so no other line can be broken.
        read = (
            f"read_json({duck.quoted(path)}, format = 'newline_delimited', columns = {_HISTORY_COLUMNS}, "
            "ignore_errors = true)"
        )
        in_order = self._numbered
        if in_order:
            self.db.execute(f"CREATE TEMP TABLE raw AS SELECT * FROM {read}")
            self.db.execute("CREATE TEMP VIEW h AS SELECT rowid AS pos, * FROM raw")
            in_order = self.db.execute(
                "SELECT count(*) FROM h WHERE index IS DISTINCT FROM pos"
            ).fetchone() == (0,)
            if not in_order:
                self.db.execute("DROP VIEW h")
                self.db.execute("DROP TABLE raw")
        if not in_order:
            self.db.execute(
                f"CREATE TEMP TABLE raw AS SELECT ordinality - 1 AS pos, * EXCLUDE (ordinality) FROM {read} "
                "WITH ORDINALITY"
            )
            self.db.execute("CREATE TEMP VIEW h AS SELECT * FROM raw")
        # history.pair: the last invoke of an id, and the first completion after it (in record order). When
        # no id is invoked twice (as in every history the harness writes), that is one join of the invokes
        # to the completions after them. The join gives at least one row per invoke, so as many rows as ids
        # means one invoke per id and at most one completion after it, which is then the pairing; any other
        # count (an id completed twice) falls back to the general pairing below (~0.7 s more per million
        # calls), as does an id invoked twice, found before the join is tried.
        invokes = f"SELECT * FROM h WHERE type = 'invoke' AND f IN ({_CLIENT})"
        ids, reinvoked = self.db.execute(
            f"SELECT count(*), count(*) FILTER (WHERE n > 1) FROM (SELECT count(*) AS n FROM ({invokes}) "
            "GROUP BY process, op)"
        ).fetchone() or (0, 0)
        paired = False
        if not reinvoked:
            self._pair(f"""({invokes}) i LEFT JOIN (SELECT * FROM h WHERE type <> 'invoke') d
                ON d.process = i.process AND d.op = i.op AND d.pos > i.pos""")
            paired = self.db.execute("SELECT count(*) FROM calls").fetchone() == (ids,)
            if not paired:
                self.db.execute("DROP TABLE calls")
        if not paired:
            self.db.execute(
                "CREATE TEMP TABLE inv AS SELECT process, op, max(pos) AS ipos FROM h WHERE type = 'invoke' "
                f"AND f IN ({_CLIENT}) GROUP BY ALL"
            )
            self.db.execute(
                """CREATE TEMP TABLE dn AS SELECT h.process, h.op, min(h.pos) AS dpos FROM h JOIN inv
                    ON h.process = inv.process AND h.op = inv.op AND h.type <> 'invoke' AND h.pos > inv.ipos
                GROUP BY ALL"""
            )
            self._pair(
                """inv JOIN h i ON i.pos = inv.ipos
                LEFT JOIN dn ON dn.process = inv.process AND dn.op = inv.op
                LEFT JOIN h d ON d.pos = dn.dpos"""
            )
            self.db.execute("DROP TABLE inv")
            self.db.execute("DROP TABLE dn")
        self.others = [
            {
                k: json.loads(v) if k in _JSON_FIELDS else v
                for k, v in zip(_RECORD, row, strict=True)
                if v is not None
            }
            for row in self.db.execute(
                f"SELECT {', '.join(_RECORD)} FROM h WHERE f IS NULL OR f NOT IN ({_CLIENT}) ORDER BY pos"
            ).fetchall()
        ]
        self.db.execute("DROP VIEW h")
        self.db.execute("DROP TABLE raw")

    def _pair(self, pairs: str) -> None:
        """Makes ``calls`` from ``pairs``: each client call's invoke ``i`` joined to its completion ``d`` (all
        NULL when the run ended first)."""
        keyed = "(i.value -> '$.key')"
        paired = f"""SELECT i.index AS idx, i.process::VARCHAR AS process, i.op::VARCHAR AS op, i.f,
                coalesce(d.type, 'info') AS type, i.time AS start, d.time AS "end", d.status AS status_json,
                TRY_CAST(d.status AS BIGINT) AS status, d.error, i.error AS invoke_error, i.intended,
                i.value AS asked, d.value AS answered, d.type IS NOT NULL AS done,
                CASE WHEN {keyed} IS NULL OR {keyed} = 'null' THEN NULL ELSE aid({keyed}) END AS key
            FROM {pairs}"""
        if self._values:
            paired = f"SELECT * EXCLUDE (a, q), {_fields()} FROM ({paired}))"
        self.db.execute(f"CREATE TABLE calls AS {paired}")

    def _load_ledger(self, path: Path) -> None:
        read = f"read_json({duck.quoted(path)}, format = 'newline_delimited', columns = {_LEDGER_COLUMNS})"
        self.db.execute(f"CREATE TEMP TABLE g AS SELECT * FROM {read}")  # rowid: file order (no WHERE)
        integer = "regexp_full_match(seq, '-?[0-9]+')"  # Python's isinstance(seq, int): numbers first
        # each field as its aid text only, and which of them were strings (``unaid``): the JSON texts would
        # double the ledger's memory
        strings = " + ".join(
            f"(coalesce(starts_with({n}, '\"'), false)::UTINYINT << {i})" for i, n in enumerate(_QUOTED)
        )
        self.db.execute(
            f"""CREATE TABLE ledger AS SELECT rowid AS pos, aid(transfer_id) AS tid,
                aid(idempotency_key) AS key, aid(account) AS account, delta,
                CASE WHEN {integer} THEN seq::HUGEINT END AS seq_number, aid(seq) AS seq_text,
                ({strings})::UTINYINT AS quoted
            FROM g WHERE aid(account) IN (SELECT account FROM run_accounts)"""
        )
        self.db.execute("DROP TABLE g")

    def positions(self, initial: dict[str, int]) -> None:
        """Makes, once, ``accounts`` (each of the run's accounts with its initial balance and how many
        postings it has) and ``positions``: every posting of the run's accounts at its position p (1, 2, ...
        in ``seq`` order; 0 is the initial balance) with the balance after it, its key, when its transfer
        was first acknowledged and first sent."""
        if "positions" in self._made:
            return
        self._made.add("positions")
        accounts = sorted(initial)
        self.db.execute(
            """CREATE TABLE accounts AS
            SELECT a.account, a.initial, coalesce(n.postings, 0) AS postings
            FROM (SELECT unnest(?::VARCHAR[]) AS account, unnest(?::HUGEINT[]) AS initial) a
            LEFT JOIN (SELECT account, count(*) AS postings FROM ledger GROUP BY account) n
                USING (account)""",
            [accounts, [initial[a] for a in accounts]],
        )
        self.db.execute(
            f"""CREATE TABLE positions AS SELECT l.account, row_number() OVER w AS p,
                a.initial + sum(l.delta) OVER (w ROWS UNBOUNDED PRECEDING) AS balance, l.key, k.ack,
                k.sent_at AS sent, l.pos
            FROM ledger l JOIN accounts a USING (account) LEFT JOIN keys k USING (key)
            WINDOW w AS (PARTITION BY l.account ORDER BY {SEQ_ORDER})"""
        )

    def table(self, name: str, sql: str, *params: Any) -> str:
        """Makes table ``name`` as ``sql`` once per judgement (checks that share it ask for it by name, and
        the first makes it; it goes with the connection); its name."""
        if name not in self._made:
            self.db.execute(f"CREATE TABLE {name} AS {sql}", list(params))
            self._made.add(name)
        return name

    def stream(self, sql: str, *params: Any) -> Iterator[tuple[Any, ...]]:
        """The rows of a query a batch at a time (a read per client call, millions in a soak), on a cursor of
        its own so that the caller may query meanwhile (the tables it reads are not TEMP: a cursor is a
        connection of its own and does not see another's)."""
        cursor = self.db.cursor()
        try:
            cursor.execute(sql, list(params))
            while batch := cursor.fetchmany(8192):
                yield from batch
        finally:
            cursor.close()

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
        return list(self.each_call(where, *params))

    def each_call(self, where: str, *params: Any) -> Iterator[Call]:
        """``calls``, one at a time (``stream``): for a pass over as many as there are."""
        sql = f"SELECT {_CALL_COLUMNS} FROM calls WHERE {where} ORDER BY idx"
        return map(_call, self.stream(sql, *params))

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
            f"SELECT key, tid, {POSTING} FROM ledger WHERE key IN (SELECT unnest(?::VARCHAR[])) ORDER BY pos",
            sorted(set(keys)),
        )
        for key, tid, *posting in rows:
            out.setdefault(key, {}).setdefault(tid, []).append(posting_of(posting))
        return out

    def reset(self) -> None:
        """Back to the history's columns alone (``calls``; ``others``): the tables a judgement made (the
        ledger's and the checks') are dropped, so that they hold no memory while the reports run and a next
        judgement makes them afresh."""
        made = self.db.execute(
            "SELECT table_name FROM duckdb_tables() WHERE NOT temporary AND table_name <> 'calls'"
        ).fetchall()
        for (name,) in made:
            self.db.execute(f'DROP TABLE "{name}"')
        self._made.clear()

    def close(self) -> None:
        self.db.close()
        self._tmp.cleanup()
