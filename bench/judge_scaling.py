"""How the judge scales with history size: times judge.check on synthetic correct histories of N and 10*N
transfers (plus reads, logins, a fault), judged from their files as `walletchaos analyze` judges a run, each
in a process of its own, and prints the ratio and the judging process's peak RSS. Linear is ~10x; the
judge should stay near that so that long soak runs remain re-judgeable with `walletchaos analyze`.

    .venv/bin/python bench/judge_scaling.py [N]      # default 100000: 100k and 1M transfers
"""

from __future__ import annotations

import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _figure import figure

from tests.unit.builders import Book, scenario
from walletchaos import history as hist
from walletchaos import judge


def history(transfers: int, seed: int = 1) -> tuple[list[dict], dict]:  # type: ignore[type-arg]
    rng = random.Random(seed)
    accounts = {i: 10**9 for i in range(1, 201)}
    book = Book(accounts)
    book.fault("network.latency", "db", 100, 200)
    for n in range(transfers):
        src, dst = rng.sample(range(1, 201), 2)
        kind = rng.choices(["ok", "fail", "info"], [97, 2, 1])[0]  # fail = a business 422: still available
        book.transfer(
            f"k{n}",
            src,
            dst,
            rng.randint(1, 500),
            kind=kind,
            status={"ok": 201, "fail": 422, "info": 0}[kind],
            applied=kind == "ok" or (kind == "info" and rng.random() < 0.5),
            process=rng.randrange(50),
            duration_ms=50 if 100 <= book.clock // 1_000_000 < 200 else 5,  # the fault's observed effect
        )
        if n % 4 == 0:
            book.read(src, process=rng.randrange(50))
        if n % 50 == 0:
            book.login(src, 201, f="login", legit=True)  # exercises the lockout checker; no lock is due
    return book.records(), book.audit()


def write(transfers: int, out: Path) -> None:
    """The run directory's files for a history of ``transfers``: history.jsonl, ledger.jsonl, audit.json."""
    records, audit = history(transfers)
    hist.write(out / "history.jsonl", records)
    hist.write(out / "ledger.jsonl", audit.pop("ledger"))
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


def timed(transfers: int) -> dict[str, float]:
    """Writes the history in one child process and judges it in another (each process's memory is its own)."""
    with tempfile.TemporaryDirectory(prefix="walletchaos-judge-bench-") as tmp:
        me = [sys.executable, __file__]
        subprocess.run([*me, "--write", str(transfers), tmp], check=True)
        out = subprocess.run([*me, "--judge", tmp], check=True, capture_output=True, text=True).stdout
        return json.loads(out.splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    if sys.argv[1:2] == ["--write"]:
        return write(int(sys.argv[2]), Path(sys.argv[3]))
    if sys.argv[1:2] == ["--judge"]:
        return judge_files(Path(sys.argv[2]))
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    base, big = timed(n), timed(10 * n)
    print(
        f"judge.check from files: {n} transfers {base['seconds']:.2f} s ({base['rss_mb']:.0f} MB peak), "
        f"{10 * n} transfers {big['seconds']:.2f} s ({big['rss_mb']:.0f} MB peak), "
        f"ratio {big['seconds'] / base['seconds']:.1f}x (linear = 10x)"
    )
    figure(
        f"P3 judge, {10 * n} transfers",
        f"{big['seconds']:.1f} s, {big['rss_mb']:.0f} MB peak",
        f"{n}: {base['seconds']:.2f} s",
        big["seconds"] / base["seconds"],
        "~10x; 1M <= 10 s, <= 1 GB",
    )


if __name__ == "__main__":
    main()
