"""The open model: the arrival schedule (without Locust), its scenario fields, the judge's dropped check."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

from tests.unit.builders import Book, scenario
from tests.unit.test_loader import problems
from walletchaos import judge
from walletchaos.load.arrivals import phase_at, schedule
from walletchaos.loader import load_scenario
from walletchaos.ops import Fn, Kind, Op
from walletchaos.scenario import Phase, Scenario

S = 10**9
PHASES: list[Phase] = [
    Phase.model_validate({"phase": "warm", "for": 2.0, "users": 5, "rate": 2.0, "arrivals": None}),
    Phase.model_validate({"phase": "flat", "for": 2.0, "users": 50, "arrivals": 800}),
    Phase.model_validate({"phase": "ramp", "for": 2.0, "users": 50, "arrivals": [100, 300]}),
]


def test_arrivals_follow_the_rate_inside_their_phase_and_closed_phases_have_none() -> None:
    got = list(schedule(PHASES, 5 * S, "7:arrivals"))
    times = [t for t, _ in got]
    assert times == sorted(times)
    flat = [t for t, p in got if p == "flat"]
    ramp = [t for t, p in got if p == "ramp"]
    assert not [p for _, p in got if p == "warm"]
    assert all(7 * S <= t < 9 * S for t in flat) and all(9 * S <= t < 11 * S for t in ramp)
    assert abs(len(flat) - 1600) <= 16, len(flat)  # 800/s for 2 s, +-1%
    assert abs(len(ramp) - 400) <= 8, len(ramp)  # the integral of 100 -> 300 over 2 s
    first_half = sum(1 for t in ramp if t < 10 * S)
    assert 0.35 < first_half / len(ramp) < 0.45, "a ramp starts slow: (100+200)/2 vs (200+300)/2"
    gaps = [b - a for a, b in itertools.pairwise(flat)]
    assert len(set(gaps)) > 100, "intervals are jittered, not a metronome"


def test_the_schedule_is_a_function_of_the_seed() -> None:
    assert list(schedule(PHASES, 0, "1:arrivals")) == list(schedule(PHASES, 0, "1:arrivals"))
    assert list(schedule(PHASES, 0, "1:arrivals")) != list(schedule(PHASES, 0, "2:arrivals"))


def test_phase_at() -> None:
    assert phase_at(PHASES, 5 * S, 4 * S) is None
    assert [phase_at(PHASES, 5 * S, t * S).phase for t in (5, 7, 10)] == ["warm", "flat", "ramp"]  # type: ignore[index]
    assert phase_at(PHASES, 5 * S, 11 * S) is None


def test_open_model_fields_are_checked_where_they_are(tmp_path: Path) -> None:
    text = """\
name: t
load:
  shape:
    - {phase: both, for: 5s, users: 5, rate: 2, arrivals: 100}
    - {phase: nopool, for: 5s, users: 0, arrivals: 100}
    - {phase: backwards, for: 5s, users: 5, arrivals: [100, 0]}
"""
    found = problems(tmp_path, text)
    assert any("s.yaml:4" in p and "`rate`" in p and "`arrivals`" in p for p in found), found
    assert any("s.yaml:5" in p and "users >= 1" in p for p in found), found
    assert any("s.yaml:6" in p and "arrivals" in p for p in found), found
    closed = "name: t\nslo: {dropped: 0.01}\nload:\n  shape:\n    - {phase: p, for: 5s, users: 5}\n"
    found = problems(tmp_path, closed)
    assert any("s.yaml:2" in p and "dropped" in p and "nothing can be dropped" in p for p in found), found


def test_a_stored_open_model_scenario_reads_back(tmp_path: Path) -> None:
    """A run directory's scenario.json (the whole model, defaults included) reads back as the same scenario:
    `walletchaos analyze` of a singles_day run failed on the closed model's default `rate` written beside
    `arrivals`, which a scenario may not give together."""
    sc = load_scenario(Path("scenarios/singles_day.yaml"))
    stored = json.loads(json.dumps(sc.model_dump(mode="json", by_alias=True)))
    assert Scenario.model_validate(stored) == sc
    assert all("rate" not in p for p in stored["load"]["shape"] if p.get("arrivals") is not None)
    closed = [p for p in stored["load"]["shape"] if p.get("arrivals") is None]
    assert closed and all("rate" in p for p in closed)  # closed phases keep theirs


def _judged(load_exit: dict[str, Any], **slo: Any) -> judge.Result:
    scn = scenario(load={"shape": [{"phase": "peak", "for": "10s", "users": 20, "arrivals": 100}]}, slo=slo)
    book = Book({1: 100, 2: 0})
    book.transfer("k1", 1, 2, 5)
    records = book.records()
    records += [
        Op("harness", 1, Kind.INVOKE, Fn.LOAD_EXIT, book.tick(), {}).record(),
        Op("harness", 1, Kind.OK, Fn.LOAD_EXIT, book.tick(), load_exit).record(),
    ]
    for i, r in enumerate(records):
        r["index"] = i
    verdict = judge.check(scn, records, book.audit())
    return next(r for r in verdict.results if r.name == "arrivals")


def test_dropped_arrivals_are_judged_against_the_bound_and_shown_without_one() -> None:
    counts = {"returncode": 0, "clean": True, "arrivals": {"peak": 1000}, "dropped": {"peak": 30}}
    over = _judged(counts, dropped=0.01)
    assert over.valid is False and over.count == 30 and "30 of 1000 arrivals dropped (3.0%" in over.summary
    assert _judged(counts, dropped=0.05).valid is True
    shown = _judged(counts)
    assert shown.valid is True and not shown.counted and "not judged" in shown.summary
    lost = _judged({"returncode": -9, "clean": False})
    assert lost.valid is None and "did not report" in lost.summary
