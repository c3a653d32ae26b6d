"""Violations as evidence: every offending op with its columns, the money at stake, every offending key;
a bad deploy's blast radius from the replicas' /metrics."""

from __future__ import annotations

import json
from pathlib import Path

from reports import write_all
from reports.evidence import blast_radius, of
from tests.unit.builders import Book, write_run
from walletchaos.scrape import read


def test_money_at_stake_and_every_key(tmp_path: Path) -> None:
    book = Book({1: 1_000, 2: 0})
    for i, amount in enumerate((5, 7, 11)):  # three keys each applied twice: 23 moved once too often
        book.transfer(f"twice-{i}", 1, 2, amount, kind="info", status=0, applied=True)
        book.transfer(f"twice-{i}", 1, 2, amount)
    run = write_run(tmp_path / "run", book)
    verdict = write_all(run)
    once = next(r for r in verdict.results if r.name == "exactly_once")
    ev = of(once)
    assert ev is not None and ev.total == 3 and ev.keys == ["twice-0", "twice-1", "twice-2"]
    assert ev.impact == "23 (minor units) moved more than once, over 3 key(s)"
    assert ev.rows[0]["f"] and ev.rows[0]["amount"] == 5 and "applied=2" in ev.rows[0]["other"]
    page = (run / "report.html").read_text()
    assert "money: 23 (minor units) moved more than once" in page
    assert "all 3 offending key(s)" in page and "twice-0 twice-1 twice-2" in page
    assert 'class="formula"' in page, "formulas as text, not only tooltips"


def test_blast_radius_counts_what_the_bad_version_served_per_replica(tmp_path: Path) -> None:
    def scrape(t: float, replica: int, ok: float, bad: float) -> str:
        samples = {
            'wallet_requests_total{endpoint="/v1/transfers",status="201"}': ok,
            'wallet_requests_total{endpoint="/v1/transfers",status="500"}': bad,
            'wallet_requests_total{endpoint="/readyz",status="200"}': 99.0,
        }
        return json.dumps({"t": t, "replica": replica, "samples": samples})

    lines = [
        scrape(4.5, 0, 400, 0),  # the old version, before the rollout: not counted
        scrape(5.5, 0, 30, 2),  # restarted as the bad version at 5.2 s: its counters began at 0
        scrape(6.5, 0, 80, 5),
        scrape(8.5, 0, 150, 9),
        scrape(9.5, 0, 10, 0),  # rolled back: the good version again
        scrape(6.5, 1, 20, 1),
        scrape(8.5, 1, 60, 3),
    ]
    (tmp_path / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    fault = {
        "name": "deploy",
        "invoked_s": 5.0,
        "heal_invoked_s": 9.0,
        "healed_s": 9.8,
        "applied": {"rolled_out": ["wallet0", "wallet1"], "rolled_after_s": {"wallet0": 0.2, "wallet1": 1.2}},
        "healed": {
            "rolled_back": ["wallet0", "wallet1"],
            "restored_after_s": {"wallet0": 0.4, "wallet1": 0.8},
        },
    }
    b0, b1 = blast_radius(read(tmp_path / "metrics.jsonl"), fault)
    assert (b0.replica, b0.live_s, b0.served) == ("wallet0", 3.8, {"2xx": 150, "5xx": 9})
    assert (b1.replica, b1.live_s, b1.served) == ("wallet1", 3.2, {"2xx": 60, "5xx": 3})


def test_the_report_shows_a_deploys_blast_radius(tmp_path: Path) -> None:
    book = Book({1: 1_000, 2: 0})
    book.fault("deploy", "wallet", 0, 1_000)
    book.transfer("k", 1, 2, 5)
    run = write_run(tmp_path / "run", book)
    history = [json.loads(x) for x in (run / "history.jsonl").read_text().splitlines()]
    for r in history:  # what deploy.apply / heal record
        if r["process"] == "nemesis" and r["type"] == "ok" and r["f"] == "apply":
            r["value"]["result"] = {"rolled_out": ["wallet0"], "rolled_after_s": {"wallet0": 0.1}}
        elif r["process"] == "nemesis" and r["type"] == "ok" and r["f"] == "heal":
            r["value"]["result"] = {"rolled_back": ["wallet0"], "restored_after_s": {"wallet0": 0.1}}
    (run / "history.jsonl").write_text("".join(json.dumps(r) + "\n" for r in history))
    write_all(run)
    page = (run / "report.html").read_text()
    assert 'id="blast-radius"' in page and "wallet0" in page and "no /metrics" in page


def test_a_transfer_posted_differently_counts_the_difference() -> None:
    from reports.evidence import impact

    posted = {
        "amount": 211,
        "found_legs": [["101", 212], ["21", -212]],
        "wanted": [["101", 211], ["21", -211]],
    }
    assert impact(
        [posted, {**posted, "amount": 5, "found_legs": [["9", 5]], "wanted": [["9", 5], ["8", -5]]}]
    ) == ("3 (minor units) posted differently from the requests, over 2 transfer(s)")
    assert impact([{"amount": 40}, {"amount": 2}]) == "42 (minor units) at stake over 2 transfer(s)"
