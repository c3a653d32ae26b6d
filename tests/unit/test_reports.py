"""Reports rendered from a stored run directory alone: verdict.json, junit.xml, summary.md, compare."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from reports import write_all
from reports.compare import Slack, compare
from tests.unit.builders import MS, Book, recovering_book, write_run
from walletchaos.errors import ScenarioError

SLO = {"recovery": {"max": "5s", "success": 0.9, "hold": "500ms"}}


@pytest.fixture
def broken_run(tmp_path: Path) -> Path:
    book = recovering_book(300)
    book.transfer("dup", 1, 2, 5, kind="info", status=0, applied=True)
    book.transfer("dup", 1, 2, 5)  # applied again: exactly_once must fail
    return write_run(tmp_path / "run", book, slo=SLO)


def test_verdict_json_is_versioned_and_carries_evidence(
    broken_run: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    verdict = write_all(broken_run)
    data = json.loads((broken_run / "verdict.json").read_text())
    assert (
        data["schema"] == "walletchaos.verdict/v1" and data["valid"] == "invalid" and data["exit_code"] == 1
    )
    assert verdict.exit_code == 1
    once = next(r for r in data["results"] if r["name"] == "exactly_once")
    assert once["valid"] == "invalid" and once["first"]["key"] == "dup" and "formula" in once
    assert data["faults"][0]["name"] == "process.kill" and data["faults"][0]["healed_ok"] is True
    assert 0.2 <= data["faults"][0]["recovery_s"] <= 0.4
    assert data["rerun"] == "walletchaos run t.yaml --seed 7"


def test_junit_has_one_testcase_per_check_with_failures_carrying_evidence(broken_run: Path) -> None:
    write_all(broken_run)
    suite = ET.parse(broken_run / "junit.xml").getroot()
    cases = suite.findall("testcase")
    names = [c.get("name") for c in cases]
    assert (
        "exactly_once" in names and "conservation" in names and "recovery: process.kill on postgres" in names
    )
    assert int(suite.get("tests", 0)) == len(cases) and int(suite.get("failures", 0)) == 1
    failure = next(c for c in cases if c.get("name") == "exactly_once").find("failure")
    assert failure is not None and '"key": "dup"' in (failure.text or "")
    times = [float(c.get("time", "nan")) for c in cases]
    assert all(t >= 0 for t in times) and sum(times) > 0, "every testcase carries the judge's time"
    assert abs(float(suite.get("time", "nan")) - sum(times)) < 0.01


def test_summary_md_is_written_and_appended_to_the_step_summary(
    broken_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    step = tmp_path / "step.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step))
    write_all(broken_run)
    md = (broken_run / "summary.md").read_text()
    assert md.startswith("## walletchaos: `t` is **INVALID**")
    assert "| exactly_once | ❌ invalid |" in md and "<details><summary>exactly_once" in md
    assert step.read_text() == md + "\n"
    write_all(broken_run)  # `walletchaos report` again in the same job: the summary is not added twice
    assert step.read_text() == md + "\n"
    other_job = tmp_path / "step2.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(other_job))
    write_all(broken_run)
    assert other_job.read_text() == md + "\n"


def test_compare_fails_a_run_whose_recovery_regressed(tmp_path: Path) -> None:
    fast = write_run(tmp_path / "fast", recovering_book(200), slo=SLO)
    slow = write_run(tmp_path / "slow", recovering_book(2_500), slo=SLO)
    rows = compare(fast, slow, Slack(recovery_s=1.0))
    regressed = [r.metric for r in rows if r.regression]
    assert regressed == ["recovery: process.kill on postgres"]
    assert not any(r.regression for r in compare(fast, fast, Slack()))
    assert not any(r.regression for r in compare(slow, fast, Slack()))


def test_compare_flags_a_worse_verdict(tmp_path: Path) -> None:
    good = write_run(tmp_path / "good", Book({1: 10, 2: 0}))
    bad_book = Book({1: 10, 2: 0})
    bad_book.transfer("lost", 1, 2, 5, applied=False)
    bad = write_run(tmp_path / "bad", bad_book)
    assert [r.metric for r in compare(good, bad, Slack()) if r.regression] == ["verdict", "durability"]


def test_compare_of_two_invalid_runs_fails_only_on_a_new_violation(tmp_path: Path) -> None:
    def run(name: str, *keys: str) -> Path:
        book = Book({1: 10, 2: 0})
        for key in keys:  # each key applied twice: exactly_once is violated
            book.transfer(key, 1, 2, 1, kind="info", status=0, applied=True)
            book.transfer(key, 1, 2, 1)
        if name == "worse":
            book.transfer("lost", 1, 2, 1, applied=False)  # durability too
        return write_run(tmp_path / name, book)

    base, same, worse = run("base", "a"), run("same", "b"), run("worse", "c")
    assert not [r.metric for r in compare(base, same, Slack()) if r.regression]
    rows = [r for r in compare(base, worse, Slack()) if r.regression]
    assert [r.metric for r in rows] == ["durability"]
    assert rows[0].base == "valid" and rows[0].run == "invalid" and rows[0].delta == "new violation"


def test_compare_refuses_other_scenarios_and_other_seeds_unless_told(tmp_path: Path) -> None:
    base = write_run(tmp_path / "base", Book({1: 10, 2: 0}))
    other = write_run(tmp_path / "other", Book({1: 10, 2: 0}), name="other", slo=SLO)
    with pytest.raises(ScenarioError) as refused:
        compare(base, other, Slack())
    problem = refused.value.problems[0]
    assert "is not the baseline's 't'" in problem and "(differs in: name, slo)" in problem
    reseeded = write_run(tmp_path / "reseeded", Book({1: 10, 2: 0}), description="same scenario, new words")
    meta = json.loads((reseeded / "run.json").read_text())
    (reseeded / "run.json").write_text(json.dumps({**meta, "seed": 8}))
    with pytest.raises(ScenarioError) as refused:
        compare(base, reseeded, Slack())
    assert "seed 8 is not the baseline's 7" in refused.value.problems[0]
    assert not any(r.regression for r in compare(base, reseeded, Slack(), other_seed=True))


def test_load_summary_per_op_and_phase_counts_every_outcome_in_its_latency(tmp_path: Path) -> None:
    """Two phases of 1 s: warm-up pays quickly; the peak's payments fail slowly (3 s timeouts, unknown)
    and its balance reads are refused (503): the percentiles show the slow unknowns, not only successes."""
    book = Book({1: 10_000, 2: 0})
    for i in range(50):
        book.transfer(f"w{i}", 1, 2, 1, duration_ms=5)  # 15 ms apart: 0-0.75 s
    book.clock = 1_000 * MS
    for i in range(20):
        book.transfer(f"p{i}", 1, 2, 1, kind="info", status=0, duration_ms=3_000)
        book.clock -= 3_000 * MS  # overlapping timeouts: all 20 start within the peak phase
        book._op(1, "balance", {"account": 1, "as": 1}, "fail", 503, duration_ms=2)
    shape = [{"phase": "warm", "for": "1s", "users": 1}, {"phase": "peak", "for": "1s", "users": 1}]
    run = write_run(tmp_path / "run", book, load={"shape": shape})
    write_all(run)
    load = json.loads((run / "verdict.json").read_text())["load"]
    op = {r["name"]: r for r in load["by_op"]}
    assert op["pay"]["count"] == 70 and op["pay"]["ok"] == 50 and op["pay"]["unknown"] == 20
    assert op["balance"]["failed"] == 20 and op["balance"]["failed_share"] == 1.0
    assert op["pay"]["p99_ms"] >= 2_990, "the unknowns' 3 s count in the latency"
    assert op["all"]["count"] == 90
    phase = {r["name"]: r for r in load["by_phase"]}
    assert phase["warm"]["count"] == 50 and phase["warm"]["unknown_share"] == 0
    assert phase["warm"]["p99_ms"] is not None and phase["warm"]["p99_ms"] < 10
    assert phase["peak"]["count"] == 40 and phase["peak"]["unknown_share"] == 0.5
    assert phase["all"]["count"] == 90
    md = (run / "summary.md").read_text()
    assert "| phase | count |" in md and "| peak | 40 |" in md and "| operation | count |" in md


def test_report_draws_phases_faults_heals_and_recovery_on_the_load_clock(tmp_path: Path) -> None:
    """The timeline's shapes sit at the history's times (0 = the load's start): phases at the plan's
    boundaries, the fault band from apply invoked to heal done, the heal's invoke as a line, and the
    recovery window after it."""
    from reports import html, series
    from reports.verdict_json import faults
    from walletchaos import judge
    from walletchaos.store import load_run

    book = recovering_book(300)
    shape = [{"phase": "warm", "for": "1s", "users": 1}, {"phase": "peak", "for": "3s", "users": 1}]
    run = load_run(write_run(tmp_path / "run", book, slo=SLO, load={"shape": shape}))
    verdict = judge.check(run.scenario, run.history, run.audit)
    drawn = faults(verdict)
    fig = html.timeline(run, verdict, drawn, series.build(run))
    rects = [(s.x0, s.x1, s.fillcolor) for s in fig.layout.shapes if s.type == "rect"]
    lines = [s.x0 for s in fig.layout.shapes if s.type == "line"]
    assert (0, 1, html.PHASE_FILL[0]) in rects and (1, 4, html.PHASE_FILL[1]) in rects
    assert any(r[:2] == (0.0, 1.001) for r in rects), rects  # apply invoked -> heal done
    assert lines == [1.0, 1.0]  # the heal's invoke, in both chart rows
    recovery = drawn[0]["recovery_s"]
    assert 0.2 <= recovery <= 0.4 and (1.0, 1.0 + recovery, html.RECOVERY_FILL) in rects
    texts = [a.text for a in fig.layout.annotations]
    assert "phase warm" in texts and "phase peak" in texts and "process.kill @ postgres" in texts
    legend = {t.name for t in fig.data}
    assert {"ok", "failed (definite)", "unknown (outcome not known at the time)"} <= legend
    assert "p99, failed" in legend, "latency of failures is drawn, not only of successes"


def test_merge_puts_the_load_start_at_time_zero() -> None:
    from walletchaos.history import merge

    records = [
        {"process": "setup", "op": 0, "type": "invoke", "f": "accounts", "time": 100},
        {"process": "harness", "op": 2, "type": "invoke", "f": "load_start", "time": 500},
        {"process": 1, "op": 1, "type": "invoke", "f": "pay", "time": 700, "intended": 650},
    ]
    merged = merge(records, zero=500)
    assert [(r["time"], r.get("intended")) for r in merged] == [(-400, None), (0, None), (200, 150)]


def test_compare_judges_timings_against_a_baseline_sets_range(tmp_path: Path) -> None:
    """`run --repeat 3 --out baseline`: a folder of runs whose spread is the noise; `latest` is not a 4th."""
    for outage in (200, 900, 1_500):
        write_run(tmp_path / "baseline" / "t" / f"r{outage:05d}", recovering_book(outage), slo=SLO)
    (tmp_path / "baseline" / "t" / "latest").symlink_to("r01500")
    base = tmp_path / "baseline" / "t"
    within = write_run(tmp_path / "within", recovering_book(2_300), slo=SLO)
    outside = write_run(tmp_path / "outside", recovering_book(2_800), slo=SLO)
    rows = compare(base, within, Slack(recovery_s=1.0))
    recovery = next(r for r in rows if r.metric.startswith("recovery:"))
    assert recovery.base == "0.2s..1.5s" and recovery.run == "2.3s" and not recovery.regression, recovery
    assert not any(r.regression for r in rows)
    assert [r.metric for r in compare(base, outside, Slack(recovery_s=1.0)) if r.regression] == [
        "recovery: process.kill on postgres"
    ]
    for outage in (2_800, 200, 250):  # the run side's median counts: one slow run of three is not a trend
        write_run(tmp_path / "runs" / f"r{outage:05d}", recovering_book(outage), slo=SLO)
    assert not any(r.regression for r in compare(base, tmp_path / "runs", Slack(recovery_s=1.0)))
    with pytest.raises(ScenarioError, match="no run directory"):
        compare(tmp_path / "within" / "logs", within, Slack())


def test_compare_of_sets_flags_only_violations_no_baseline_run_had(tmp_path: Path) -> None:
    def run(path: Path, lost: bool) -> Path:
        book = Book({1: 10, 2: 0})
        book.transfer("a", 1, 2, 1, applied=not lost)
        return write_run(path, book)

    run(tmp_path / "base" / "1", lost=False)
    run(tmp_path / "base" / "2", lost=True)  # a flaky baseline: durability already violated once
    candidate = run(tmp_path / "cand", lost=True)
    rows = compare(tmp_path / "base", candidate, Slack())
    d = next(r for r in rows if r.metric == "durability")
    assert (d.base, d.run, d.regression) == ("valid 1, invalid 1", "invalid", False)
    assert not any(r.regression for r in rows)  # the worst baseline verdict was invalid too
    assert [r.metric for r in compare(tmp_path / "base" / "1", candidate, Slack()) if r.regression] == [
        "verdict",
        "durability",
    ]


def test_the_vendored_chart_bundle_matches_the_plotly_package() -> None:
    """report.html draws plotly.py's figures with the vendored basic bundle: a plotly upgrade that moves to
    another plotly.js must bring the matching bundle (reports/assets/README.md says how)."""
    from plotly.offline import get_plotlyjs_version

    from reports.html import BUNDLE, plotlyjs

    code = plotlyjs()
    assert f"plotly-basic-{get_plotlyjs_version()}.min.js" == BUNDLE
    assert f"plotly.js (basic - minified) v{get_plotlyjs_version()}" in code[:200]


def test_series_buckets_and_percentiles_follow_the_stated_rule(tmp_path: Path) -> None:
    """Ten reads meant to start at 95 ms, sent 5 ms late, completing 1..10 ms after they were sent (all in the
    first 250 ms bucket), so 6..15 ms after their intended start: p50 is the 6th smallest, 11 ms (index
    floor(10 * 0.5)), p99 the 10th, 15 ms (index min(9, floor(9.9))). A definite failure of 20 ms at 1.1 s;
    a read the run ended on (no completion) is not in the series."""
    from reports import series
    from walletchaos.ops import Fn, Kind, Op
    from walletchaos.store import load_run

    book = Book({1: 100})
    read = {"account": 1, "as": 1}
    for op, ms in enumerate(range(1, 11), 100):
        book.history.append(Op(1, op, Kind.INVOKE, Fn.BALANCE, 100 * MS, read, intended=95 * MS).record())
        book.history.append(Op(1, op, Kind.OK, Fn.BALANCE, (100 + ms) * MS, {"balance": 100}, 200).record())
    book.history.append(Op(2, 1, Kind.INVOKE, Fn.BALANCE, 1_100 * MS, read, intended=1_100 * MS).record())
    book.history.append(Op(2, 1, Kind.FAIL, Fn.BALANCE, 1_120 * MS, None, 503, "unavailable").record())
    book.history.append(Op(3, 1, Kind.INVOKE, Fn.BALANCE, 1_110 * MS, read, intended=1_110 * MS).record())
    s = series.build(load_run(write_run(tmp_path / "run", book)))
    assert s.bucket_s == 0.25 and s.t[0] == 0.0 and len(s.t) == 5, s
    assert s.ok[0] == 10 / 0.25 and s.fail[4] == 1 / 0.25 and sum(s.info) == 0
    assert s.p50_ms[0] == 11.0 and s.p99_ms[0] == 15.0 and s.p99_by_outcome["fail"][4] == 20.0
    assert s.p50_ms[1:4] == [None, None, None] and s.p99_by_outcome["ok"][4] is None
    assert s.errors == {"balance 503 unavailable": 1}
