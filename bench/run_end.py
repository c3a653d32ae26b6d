"""The end of a long run: the merged history written from the load's file as the harness writes it
(``history.merge_files``: the check scan and the sort of the load's file, then the numbering and the move to
the load's clock; the orchestrator's two calls), against the in-memory merge of the same records (read,
``history.merge``, ``history.write``: the path a file DuckDB cannot read takes), on bench/judge_scaling.py's
synthetic history of N transfers without its numbering, as a load process writes it. Both must write the same
bytes.

    .venv/bin/python bench/run_end.py [N]      # default 100000 transfers (~2.5 records per transfer)
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _figure import figure
from judge_scaling import history as synthetic

from walletchaos import history

ZERO = 1_000_000


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    with tempfile.TemporaryDirectory(prefix="walletchaos-run-end-bench-") as tmp:
        client = Path(tmp) / "client-history.jsonl"
        records, _ = synthetic(n)
        history.write(client, ({k: v for k, v in r.items() if k != "index"} for r in records))
        del records
        started = time.perf_counter()
        ordered = Path(tmp) / ".client-ordered.jsonl"
        assert history.merge_files(ordered, client, number=False)
        sorted_s = time.perf_counter() - started
        merged = Path(tmp) / "history.jsonl"
        assert history.merge_files(merged, ordered, zero=ZERO, vouched=True)
        files_s = time.perf_counter() - started
        started = time.perf_counter()
        in_memory = Path(tmp) / "in-memory.jsonl"
        history.write(in_memory, history.merge(history.read(client), zero=ZERO))
        memory_s = time.perf_counter() - started
        same = merged.read_bytes() == in_memory.read_bytes()
        lines = merged.read_bytes().count(b"\n")
    print(
        f"{lines} records: merge_files {files_s:.1f} s (scan and sort {sorted_s:.1f} s), "
        f"in memory {memory_s:.1f} s"
    )
    print(
        "the same bytes"
        if same
        else "DIFFERENT BYTES: merge_files does not write what the in-memory merge writes"
    )
    figure(
        f"run end: merged history, {n} transfers",
        f"{files_s:.1f} s",
        f"in memory: {memory_s:.1f} s",
        files_s / memory_s,
        "< 1, the same bytes" if same else "DIFFERENT BYTES",
    )
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()
