"""Per-fault ``expect``: availability and p99 judged over the ops that overlapped the fault's window."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.unit.builders import MS, Book, scenario
from tests.unit.test_loader import problems
from walletchaos import judge

FAULT = {"at": "1s", "for": "1s", "fault": "network.latency", "target": "db", "params": {"latency": 50}}


def _judged(unavailable: int, available: int, slow_ms: int = 5, **expect: Any) -> judge.Result:
    """Ops before the fault (all fine), ``unavailable`` 503s and ``available`` slow 201s during it."""
    book = Book({1: 10_000, 2: 0})
    book.fault("network.latency", "db", 1_000, 4_000)
    book.clock = 0
    for i in range(20):  # before: outside the window, never counted
        book.transfer(f"b{i}", 1, 2, 1, duration_ms=10)
    book.clock = 1_100 * MS
    for i in range(unavailable):
        book.transfer(f"x{i}", 1, 2, 1, kind="fail", status=503, duration_ms=5)
    for i in range(available):
        book.transfer(f"d{i}", 1, 2, 1, duration_ms=slow_ms)
    scn = scenario(faults=[{**FAULT, "expect": expect}])
    verdict = judge.check(scn, book.records(), book.audit())
    return next(r for r in verdict.results if r.name.startswith("expect: "))


def test_availability_during_the_fault_is_held_to_its_expectation() -> None:
    held = _judged(unavailable=4, available=96, availability=0.95)
    assert held.valid is True and held.exercised == 100 and "availability 96.0%" in held.summary
    broken = _judged(unavailable=10, available=90, availability=0.95)
    assert broken.valid is False and broken.count == 10 and broken.first is not None
    assert broken.first["status"] == 503 and broken.name == "expect: network.latency on db"


def test_p99_during_the_fault_is_held_to_its_expectation() -> None:
    assert _judged(unavailable=0, available=100, slow_ms=8, p99="50ms").valid is True
    slow = _judged(unavailable=0, available=100, slow_ms=80, p99="50ms")
    assert slow.valid is False and "p99 80ms (expected <= 50ms)" in slow.summary


def test_an_expectation_nothing_exercised_is_unknown() -> None:
    nothing = _judged(unavailable=0, available=0, availability=0.9)
    assert nothing.valid is None and nothing.word == "not exercised"


def test_expect_needs_a_bound(tmp_path: Path) -> None:
    text = (
        "name: t\nload:\n  shape:\n    - {phase: p, for: 5s, users: 5}\nfaults:\n"
        "  - {at: 1s, for: 1s, fault: network.latency, target: db, params: {latency: 5}, expect: {}}\n"
    )
    found = problems(tmp_path, text)
    assert any("s.yaml:6" in p and "availability and/or p99" in p for p in found), found
