"""The judge's columns (judge/columns.py) against the Python they replace: history.pair's pairing, and one
verdict whether the history comes as records or as its JSONL file."""

from __future__ import annotations

import dataclasses
import json
import random
from pathlib import Path
from typing import Any

from tests.unit.builders import Book, scenario
from walletchaos import history, judge
from walletchaos.judge.columns import Columns
from walletchaos.ops import CLIENT_FS


def messy(seed: int) -> list[dict[str, Any]]:
    """Client records as a history may hold them: ids invoked again, completions without an invoke or
    after the first one, calls never completed, int and str processes that look alike."""
    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    for n in range(400):
        process = rng.choice([1, 2, "1", "2"])
        op = rng.randrange(40)
        kind = rng.choices(["invoke", "ok", "fail", "info"], [5, 3, 1, 1])[0]
        rec: dict[str, Any] = {"process": process, "op": op, "type": kind, "f": "pay", "time": n * 1000}
        if kind == "invoke":
            rec["value"] = {
                "key": f"k{op}",
                "from": rng.choice([7, "7", "a"]),
                "to": 8,
                "amount": rng.randrange(9),
            }
        else:
            rec["status"] = {"ok": 201, "fail": 422, "info": 0}[kind]
            if rng.random() < 0.5:
                rec["value"] = {"id": rng.randrange(5), "amount": 3}
        out.append(rec)
    return history.merge(out)


def paired(
    records: list[dict[str, Any]],
    source: list[dict[str, Any]] | Path,
    numbered: bool = True,
    values: bool = True,
) -> None:
    """The calls the columns pair from ``source`` (the records, or their file) are history.pair's, also when
    the columns are told the records are not numbered in file order (``numbered`` False: read WITH
    ORDINALITY at once) and without the value fields (``values`` False, as for the audit's unknown keys)."""
    cols = Columns(source, numbered, values)
    got = cols.calls("true")
    cols.close()
    expected = [c for c in history.pair(records) if c.f in CLIENT_FS]
    fields = [
        [(c.index, c.type, c.start, c.end, c.status, c.key, c.value, c.invoke.get("process")) for c in calls]
        for calls in (got, expected)
    ]
    assert fields[0] == fields[1]


def test_calls_pair_as_history_pair(tmp_path: Path) -> None:
    for seed in range(5):
        records = messy(seed)
        path = tmp_path / f"h{seed}.jsonl"
        history.write(path, records)
        paired(records, records)
        paired(records, path)
        paired(records, path, numbered=False)
        paired(records, path, numbered=False, values=False)


def once(seed: int, twice: bool) -> list[dict[str, Any]]:
    """Client records where no id is invoked twice (as the harness writes them): completions without an
    invoke before it, calls never completed, int and str processes that look alike, and with ``twice`` an
    id completed twice after its invoke (the first completion is its outcome)."""
    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    for n in range(150):
        process, op = rng.choice([1, 2, "1", "2"]), n
        ident = {"process": process, "op": op, "f": rng.choice(["pay", "balance"])}
        t = rng.randrange(10**6)
        value = {"key": f"k{op}", "from": rng.choice([7, "7"]), "to": 8, "amount": rng.randrange(9)}
        out.append({**ident, "type": "invoke", "time": t, "value": value})
        kinds = rng.choices(["ok", "fail", "info"], [3, 1, 1], k=rng.choice([0, 1, 1, 1, 2 if twice else 1]))
        if rng.random() < 0.2:
            out.append({**ident, "type": "fail", "time": t - 1 - rng.randrange(1000), "status": 500})
        for i, kind in enumerate(kinds):
            done = {**ident, "type": kind, "time": t + 1 + i + rng.randrange(5000)}
            done["status"] = {"ok": 201, "fail": 422, "info": 0}[kind]
            if rng.random() < 0.5:
                done["value"] = {"id": rng.randrange(5), "amount": 3}
            out.append(done)
    return history.merge(out)


def test_calls_pair_as_history_pair_when_no_id_is_invoked_twice() -> None:
    """The one-join pairing (no id invoked twice) and its fallback when an id is completed twice."""
    for seed in range(6):
        records = once(seed, twice=seed % 2 == 1)
        assert len(history.pair(records)) == 150
        paired(records, records)


def test_unnumbered_history_keeps_record_order(tmp_path: Path) -> None:
    """A file whose records are not numbered in file order (hand-written) is still paired in file order."""
    records = messy(7)
    expected = [(c.start, c.type, c.end) for c in history.pair(records) if c.f in CLIENT_FS]
    path = tmp_path / "h.jsonl"
    with open(path, "w") as out:
        for i, rec in enumerate(records):
            out.write(json.dumps({**rec, "index": (i * 7919) % len(records)}) + "\n")
    for numbered in (True, False):  # found out, or said by the caller
        cols = Columns(path, numbered)
        got = sorted((c.start, c.type, c.end) for c in cols.calls("true"))
        cols.close()
        assert got == sorted(expected)


def _verdict(v: judge.Verdict) -> list[dict[str, Any]]:
    return [{k: x for k, x in dataclasses.asdict(r).items() if k != "seconds"} for r in v.results]


def test_one_verdict_from_records_or_files(tmp_path: Path) -> None:
    book = Book({1: 100, 2: 50, 3: 0})
    book.transfer("k1", 1, 2, 30)
    book.transfer("k2", 2, 3, 500, kind="fail", status=422, applied=False)
    book.transfer("k3", 1, 3, 10, kind="info", status=0, applied=True)
    book.read(2)
    records, audit = book.records(), book.audit(snapshot={1: 60, 2: 80, 3: 20})  # the ledger gives 3 only 10
    path, ledger = tmp_path / "history.jsonl", tmp_path / "ledger.jsonl"
    history.write(path, records)
    history.write(ledger, audit["ledger"])
    from_records = judge.check(scenario(), records, audit)
    from_files = judge.check(scenario(), path, {**audit, "ledger": ledger})
    assert _verdict(from_records) == _verdict(from_files)
    assert from_records.stats == from_files.stats
    assert from_records.valid is False  # the snapshot says 3 holds 20 where the ledger says 10


def test_a_judgement_on_read_columns_is_the_same_and_leaves_them_as_it_found_them(tmp_path: Path) -> None:
    """``judge.check`` on a run's columns already read (``StoredRun.columns``: one read for the judge and the
    reports) gives the verdict it gives on the file, drops every table it made, and can judge again."""
    book = Book({1: 100, 2: 50, 3: 0})
    book.transfer("k1", 1, 2, 30)
    book.transfer("k2", 2, 3, 500, kind="fail", status=422, applied=False)
    book.transfer("k3", 1, 3, 10, kind="info", status=0, applied=True)
    book.read(2)
    records, audit = book.records(), book.audit(snapshot={1: 60, 2: 80, 3: 20})
    path = tmp_path / "history.jsonl"
    history.write(path, records)
    expected = judge.check(scenario(), path, audit)
    cols = Columns(path)
    try:
        tables = "SELECT table_name FROM duckdb_tables() ORDER BY table_name"
        before = cols.rows(tables)
        for _ in range(2):
            got = judge.check(scenario(), cols, audit)
            assert _verdict(got) == _verdict(expected) and got.stats == expected.stats
            assert cols.rows(tables) == before == [("calls",)]
        assert len(cols.calls("true")) == 4
    finally:
        cols.close()


def test_postings_come_back_as_the_audit_gave_them() -> None:
    """The ledger keeps each field as its opaque-id text and which fields were strings: a posting read back
    (the evidence of ledger_keys) is the audit's, whatever JSON types its fields had."""
    odd: list[Any] = [
        7,
        "7",
        "None",
        None,
        True,
        "True",
        False,
        1.5,
        'a"b\\c\u00e9',
        {"x": [1, 2]},
        [3],
        -0,
        10**20,
    ]
    ledger = []
    for i, value in enumerate(odd):
        ledger.append(
            {"seq": value, "transfer_id": value, "idempotency_key": f"k{i}", "account": 1, "delta": -i}
        )
        ledger.append({"seq": i, "transfer_id": i, "idempotency_key": value, "account": value, "delta": i})
    ledger.append({"transfer_id": 99, "idempotency_key": "k99", "account": 1, "delta": 0})  # no seq
    cols = Columns([])
    ids = {'{"x":[1,2]}', *(str(v) for v in odd)}  # opaque ids as aid makes them: an object's is its JSON
    cols.load_ledger(ledger, {"1", *ids})
    got = cols.ledger_keys({"k99", *(f"k{i}" for i in range(len(odd))), *ids})
    cols.close()
    postings = [p for transfers in got.values() for posts in transfers.values() for p in posts]
    expected = [{"seq": None, **p} if "seq" not in p else p for p in ledger]
    assert sorted(map(json.dumps, postings)) == sorted(map(json.dumps, expected))
