"""How the judge scales with history size: times judge.check on synthetic correct histories of N and 10*N
transfers (plus reads, logins, a fault), judged from their files as `walletchaos analyze` judges a run, each
in a process of its own, and prints the ratio and the judging process's peak RSS. Linear is ~10x; the
judge should stay near that so that long soak runs remain re-judgeable with `walletchaos analyze`.

    .venv/bin/python bench/judge_scaling.py [N]      # default 100000: 100k and 1M transfers

A history of 10M transfers does not fit in this generator's memory (~40 GB as Python objects), so with
``--copies K`` the big history is N transfers K times over instead, each copy on 200 accounts, client
processes, keys and transfer ids of its own, one after another in time (one fault, in the first), written
copy by copy; the baseline stays N transfers in one copy:

    .venv/bin/python bench/judge_scaling.py 1000000 --copies 10   # 1M, and 10M as ten copies (~25 min here)
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _child

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _figure import figure

from tests.unit.builders import Book, scenario
from walletchaos import history as hist
from walletchaos import judge

ACCOUNTS = 200
"""Accounts per copy of the history."""
APART = 10**9
"""Op ids, transfer ids and ledger seqs of copy c start at c * APART."""


def history(transfers: int, seed: int = 1, copy: int = 0, clock: int = 0) -> tuple[list[dict], dict]:  # type: ignore[type-arg]
    """The records and audit of ``transfers`` among 200 accounts; as copy ``copy`` (> 0) of a longer history:
    on accounts, processes, keys and ids of its own, from ``clock`` on, without a fault."""
    rng = random.Random(seed)
    first = copy * ACCOUNTS + 1
    accounts = {i: 10**9 for i in range(first, first + ACCOUNTS)}
    book = Book(
        accounts, clock=clock, ids=itertools.count(copy * APART), tid=itertools.count(copy * APART + 1)
    )
    prefix = f"c{copy}" if copy else ""
    if not copy:
        book.fault("network.latency", "db", 100, 200)
    for n in range(transfers):
        src, dst = rng.sample(range(first, first + ACCOUNTS), 2)
        kind = rng.choices(["ok", "fail", "info"], [97, 2, 1])[0]  # fail = a business 422: still available
        book.transfer(
            f"{prefix}k{n}",
            src,
            dst,
            rng.randint(1, 500),
            kind=kind,
            status={"ok": 201, "fail": 422, "info": 0}[kind],
            applied=kind == "ok" or (kind == "info" and rng.random() < 0.5),
            process=copy * 50 + rng.randrange(50),
            duration_ms=50 if 100 <= book.clock // 1_000_000 < 200 else 5,  # the fault's observed effect
        )
        if n % 4 == 0:
            book.read(src, process=copy * 50 + rng.randrange(50))
        if n % 50 == 0:
            book.login(src, 201, f="login", legit=True)  # exercises the lockout checker; no lock is due
    return book.records(), book.audit()


def write(transfers: int, out: Path, copies: int = 1) -> None:
    """The run directory's files for a history of ``transfers`` (``copies`` times over, one copy in memory at
    a time): history.jsonl, ledger.jsonl, audit.json."""
    everyone = [
        {"id": i, "username": f"u{i}", "kind": "user", "balance": 10**9}
        for i in range(1, copies * ACCOUNTS + 1)
    ]
    audit: dict = {}  # type: ignore[type-arg]
    index = clock = 0
    with open(out / "history.jsonl", "w") as h, open(out / "ledger.jsonl", "w") as g:
        for copy in range(copies):
            records, part = history(transfers, copy=copy, clock=clock)
            if copy:  # one set-up for every copy's accounts: the first copy's
                records = [r for r in records if r["f"] != "accounts"]
            for r in records:
                if r["f"] == "accounts" and r["type"] == "ok":
                    r["value"] = {"accounts": everyone}
                r["index"], index = index, index + 1
                clock = max(clock, r["time"])
            hist.append(h, records)
            for p in part["ledger"]:
                p["seq"] += copy * APART
            hist.append(g, part.pop("ledger"))
            if copy:  # the copies' accounts are disjoint: their snapshots and owner reads add up
                audit["snapshot"]["accounts"] += part["snapshot"]["accounts"]
                audit["snapshot"]["total"] += part["snapshot"]["total"]
                audit["owner_reads"].update(part["owner_reads"])
            else:
                audit = part
            clock += 10**9  # the next copy starts a second after this one's last record
    (out / "audit.json").write_text(json.dumps(audit))


def judge_files(run: Path) -> None:
    """Judges a written history from its files (as ``walletchaos analyze`` does) and prints the time and
    this process's peak RSS as JSON."""
    audit = json.loads((run / "audit.json").read_text())
    audit["ledger"] = run / "ledger.jsonl"
    started = time.perf_counter()
    verdict = judge.check(scenario(), run / "history.jsonl", audit)
    elapsed = time.perf_counter() - started
    assert verdict.valid is True, [r.name for r in verdict.counted() if r.valid is not True]
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": elapsed, "rss_mb": rss}))


def timed(transfers: int, copies: int = 1) -> dict[str, float]:
    """Writes the history in one child process and judges it in another (each process's memory is its own)."""
    with tempfile.TemporaryDirectory(prefix="walletchaos-judge-bench-") as tmp:
        me = [sys.executable, __file__]
        _child.run([*me, "--write", str(transfers), tmp, str(copies)], check=True)
        out = _child.run([*me, "--judge", tmp], check=True, stdout=subprocess.PIPE).stdout
        return json.loads(out.splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    if sys.argv[1:2] == ["--write"]:
        return write(int(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4]) if len(sys.argv) > 4 else 1)
    if sys.argv[1:2] == ["--judge"]:
        return judge_files(Path(sys.argv[2]))
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("n", nargs="?", type=int, default=100_000, help="transfers of the baseline history")
    args.add_argument("--copies", type=int, default=0, help="the big history as N transfers K times over")
    a = args.parse_args()
    n, copies = a.n, a.copies
    base = timed(n)
    big = timed(n, copies) if copies else timed(10 * n)
    k = copies or 10
    print(
        f"judge.check from files: {n} transfers {base['seconds']:.2f} s ({base['rss_mb']:.0f} MB peak), "
        f"{k * n} transfers{f' ({k} copies)' if copies else ''} {big['seconds']:.2f} s "
        f"({big['rss_mb']:.0f} MB peak), ratio {big['seconds'] / base['seconds']:.1f}x (linear = {k}x)"
    )
    figure(
        f"P3 judge, {k * n} transfers",
        f"{big['seconds']:.1f} s, {big['rss_mb']:.0f} MB peak",
        f"{n}: {base['seconds']:.2f} s",
        big["seconds"] / base["seconds"],
        f"~{k}x; 1M <= 10 s, <= 1 GB; 10M <= 2 min",
    )


if __name__ == "__main__":
    main()
