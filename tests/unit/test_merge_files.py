"""history.merge_files: the merged history written without holding the records, byte for byte what the
in-memory merge writes, or nothing (False) when DuckDB cannot read a stream as Python does."""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path

from walletchaos import history
from walletchaos.ops import Fn, Kind, Op


def _load(n: int, seed: int) -> list[dict]:  # type: ignore[type-arg]
    """n calls of a load process: invokes and completions, many at the same time (ties)."""
    rng = random.Random(seed)
    out = []
    for op in range(n):
        start = rng.randrange(0, 50) * 1_000
        out.append(
            Op(
                op % 7, op, Kind.INVOKE, Fn.PAY, start, {"key": f"k{op}", "amount": 1}, intended=start
            ).record()
        )
        out.append(
            Op(op % 7, op, Kind.OK, Fn.PAY, start + rng.randrange(0, 3) * 1_000, {"id": op}, 201).record()
        )
    out.sort(key=lambda r: r["time"])
    blocks = [out[i : i + 9] for i in range(0, len(out), 9)]
    rng.shuffle(blocks)  # records shipped from workers arrive out of order
    return [r for b in blocks for r in b]


def test_merge_files_writes_what_the_in_memory_merge_writes(tmp_path: Path) -> None:
    harness = [
        Op("setup", 0, Kind.INVOKE, Fn.ACCOUNTS, 0, {}).record(),
        Op("setup", 0, Kind.OK, Fn.ACCOUNTS, 3_000, {}).record(),
    ]
    faults = [Op("nemesis", 0, Kind.INVOKE, Fn.APPLY, 3_000, {"fault": "x"}).record()]
    client = tmp_path / "client.jsonl"
    history.write(client, _load(400, 1))
    expected = tmp_path / "expected.jsonl"
    records = history.merge(
        copy.deepcopy(harness), copy.deepcopy(faults), [], history.read(client), zero=1_000
    )
    history.write(expected, records)
    out = tmp_path / "history.jsonl"
    assert history.merge_files(out, harness, faults, [], client, zero=1_000)
    assert out.read_bytes() == expected.read_bytes()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == [], "its own files are gone"

    ordered = tmp_path / "ordered.jsonl"
    assert history.merge_files(ordered, client, number=False)
    lines = ordered.read_text().splitlines()
    in_order = [{k: v for k, v in r.items() if k != "index"} for r in history.merge(history.read(client))]
    assert [json.loads(line) for line in lines] == in_order and "index" not in lines[0]
    assert history.merge_files(out, harness, faults, [], ordered, zero=1_000, vouched=True)
    assert out.read_bytes() == expected.read_bytes(), "a sorted stream merges as the unsorted one did"


def test_a_stream_duckdb_cannot_read_is_left_to_the_in_memory_merge(tmp_path: Path) -> None:
    client = tmp_path / "client.jsonl"
    history.write(client, _load(20, 2))
    with open(client, "a") as f:
        f.write('{"process": 1, "op": 99, "ty')  # the load process was killed mid-write
    out = tmp_path / "history.jsonl"
    assert history.merge_files(out, [], client) is False and not out.exists()
    assert len(history.read(client)) == 40, "the Python reader skips the cut line"


def test_records_not_as_the_writers_write_them_are_moved_and_numbered_as_the_in_memory_merge_does(
    tmp_path: Path,
) -> None:
    """merge_files rewrites a record's time, intended and index in its text where they are sure to be the
    record's own, and parses any other record: each of these lines, among ordinary ones, comes out as the
    in-memory merge writes it."""
    head = '{"process":3,"op":%d,"type":"ok","f":"pay","time":%s'
    odd = [
        head % (1, "20") + ',"value":{"id":1},"status":201,"index":7,"extra":1}',  # a member after index
        head % (2, "21") + ',"intended":19,"value":{"id":2}}',  # intended before value
        head % (3, "22") + ',"value":{"intended":5,"index":6}}',  # theirs, nested at the end
        head % (4, "23") + ',"value":{"time":5},"intended":null}',  # a null intended; a nested time
        '{"process":3,"op":5,"type":"ok","f":"pay","value":{"a":1,"time":24},"time":24}',  # nested first
        '{"process":"a,\\"time\\":1","op":6,"type":"ok","f":"pay","time":25}',  # in a string before it
        '{"process":"{[","op":7,"type":"ok","f":"pay","time":26,"intended":24}',
        head % (8, "27") + ',"intended":25.5}',  # not an integer
        head % (9, "28") + ',"intended":26.0}',
        head % (10, "29") + ',"value":{"note":"caf\\u00e9 \\"}\\""},"intended":27,"index":3}',
        '{"process": 3, "op": 11, "type": "ok", "f": "pay", "time": 30, "intended": 28}',  # spaced
        head % (12, "-0") + ',"intended":-0}',
    ]
    client = tmp_path / "client.jsonl"
    ordinary = [json.dumps(r, separators=(",", ":")) for r in _load(20, 3)]
    client.write_text("\n".join(ordinary[:20] + odd + ordinary[20:]) + "\n")
    expected = tmp_path / "expected.jsonl"
    history.write(expected, history.merge(history.read(client), zero=1_000))
    out = tmp_path / "history.jsonl"
    assert history.merge_files(out, client, zero=1_000)
    assert out.read_text().splitlines() == expected.read_text().splitlines()
