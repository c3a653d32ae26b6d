"""How the judge scales with history size: times judge.check on synthetic correct histories of N and 10*N
transfers (plus reads, logins, a fault) in this process and prints the ratio. Linear is ~10x; the judge
should stay near that so that long soak runs remain re-judgeable with `walletchaos analyze`.

    .venv/bin/python bench/judge_scaling.py [N]
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _figure import figure

from tests.unit.builders import Book, scenario
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


def timed(transfers: int) -> float:
    records, audit = history(transfers)
    started = time.perf_counter()
    verdict = judge.check(scenario(), records, audit)
    elapsed = time.perf_counter() - started
    assert verdict.valid is True, [r.name for r in verdict.counted() if r.valid is not True]
    return elapsed


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    timed(1_000)  # warm-up
    base, big = timed(n), timed(10 * n)
    print(
        f"judge.check: {n} transfers {base:.2f}s, {10 * n} transfers {big:.2f}s, ratio {big / base:.1f}x "
        f"(linear = 10x)"
    )
    figure(
        f"P3 judge, {10 * n} transfers", f"{big:.1f} s", f"{n}: {base:.2f} s", big / base, "~10x; 1M <= 10 s"
    )


if __name__ == "__main__":
    main()
