"""The load summary people expect from k6 and Locust, from the stored history alone: per operation type and
per load phase, the count, throughput, p50/p95/p99 latency and the shares of failed and unknown outcomes.

Latency is coordinated-omission corrected (completion - intended start) and taken over every op that
completed, whatever its outcome: a replica kill answered by fast refusals or slow timeouts shows in the
percentiles instead of leaving only the lucky successes. Ops that never completed (the run ended first) are
counted as unknown and have no latency. An op belongs to the phase in which it was meant to start (its
intended start on the load clock, time 0 = the load's start).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from hdrh.histogram import HdrHistogram

from walletchaos.judge.columns import Columns
from walletchaos.plan import make_plan
from walletchaos.store import StoredRun

from . import calls

ALL = "all"


@dataclass(frozen=True)
class Row:
    name: str
    count: int
    seconds: float
    ok: int
    failed: int
    unknown: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None

    @property
    def per_s(self) -> float:
        return self.count / self.seconds if self.seconds > 0 else 0.0

    @property
    def failed_share(self) -> float:
        return self.failed / self.count if self.count else 0.0

    @property
    def unknown_share(self) -> float:
        return self.unknown / self.count if self.count else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "per_s": round(self.per_s, 2),
            "failed_share": round(self.failed_share, 4),
            "unknown_share": round(self.unknown_share, 4),
        }


@dataclass(frozen=True)
class Summary:
    by_op: list[Row]
    by_phase: list[Row]

    def to_json(self) -> dict[str, list[dict[str, Any]]]:
        return {"by_op": [r.to_json() for r in self.by_op], "by_phase": [r.to_json() for r in self.by_phase]}


class _Row:
    """One row's counts and latency histogram (microseconds, at least 1), filled a group of calls at once."""

    def __init__(self) -> None:
        self.hist = HdrHistogram(1, 3_600_000_000, 3)  # microseconds, up to an hour
        self.counts = {"ok": 0, "fail": 0, "info": 0}
        self.n = 0

    def add(self, kind: str, us: int | None, count: int) -> None:
        self.n += count
        self.counts[kind] += count
        if us is not None:
            self.hist.record_value(us, count)

    def row(self, name: str, seconds: float) -> Row:
        def pct(q: float) -> float | None:
            return self.hist.get_value_at_percentile(q) / 1000 if self.hist.get_total_count() else None

        c = self.counts
        return Row(name, self.n, seconds, c["ok"], c["fail"], c["info"], pct(50), pct(95), pct(99))


def build(run: StoredRun) -> Summary:
    """The run's summary, made once per run (``calls.once``)."""
    return calls.once(run, "summary", lambda cols: _build(run, cols))


def _build(run: StoredRun, cols: Columns) -> Summary:
    """The client calls counted by operation, by phase and all together, per outcome and latency (one
    group per distinct latency in microseconds: a histogram records a group as one value, ``count`` times).
    A call is in phase i when (i is the first or intended >= its start) and (i is the last or intended <
    its end)."""
    last = cols.one('SELECT max(coalesce(nullif("end", 0), start)) FROM calls')
    load_end = (last or 0) / 1e9
    span = max(load_end, 1e-9)
    phases = make_plan(run.scenario, run.meta.get("seed")).phases
    latency = 'CASE WHEN "end" IS NOT NULL THEN greatest(1, ("end" - coalesce(intended, start)) // 1000) END'
    groups = ["SELECT 'op', f, type, us, count(*) FROM c GROUP BY ALL"]
    for i, (_, start, end) in enumerate(phases):
        after = "true" if i == 0 else f"t >= {start * 1e9!r}"
        before = "true" if i == len(phases) - 1 else f"t < {end * 1e9!r}"
        groups.append(
            f"SELECT 'phase', '{i}', type, us, count(*) FROM c WHERE {after} AND {before} GROUP BY ALL"
        )
    groups.append("SELECT 'all', '', type, us, count(*) FROM c GROUP BY ALL")
    ops: dict[str, _Row] = {}
    by_phase = [_Row() for _ in phases]
    total = _Row()
    sql = f"WITH c AS (SELECT f, type, {latency} AS us, coalesce(intended, start) AS t FROM calls) "
    for kind_of_row, name, kind, us, count in cols.rows(sql + " UNION ALL ".join(groups)):
        if kind_of_row == "op":
            (ops.get(name) or ops.setdefault(name, _Row())).add(kind, us, count)
        elif kind_of_row == "phase":
            by_phase[int(name)].add(kind, us, count)
        else:
            total.add(kind, us, count)
    rows = [ops[op].row(op, span) for op in sorted(ops)]
    timed = [
        acc.row(name, max(0.0, (load_end if i == len(phases) - 1 else min(end, load_end)) - start))
        for i, (acc, (name, start, end)) in enumerate(zip(by_phase, phases, strict=True))
    ]
    everything = total.row(ALL, span)
    return Summary([*rows, everything], [*timed, everything] if len(timed) > 1 else timed)


HEADER = ("", "count", "ops/s", "p50", "p95", "p99", "failed", "unknown")


def cells(row: dict[str, Any]) -> tuple[str, ...]:
    """One row of ``Summary.to_json`` (as verdict.json holds it) as text, the same in report.html, summary.md
    and the terminal."""

    def ms(v: float | None) -> str:
        return "-" if v is None else (f"{v:.0f} ms" if v >= 10 else f"{v:.1f} ms")

    return (
        str(row["name"]),
        str(row["count"]),
        f"{row['per_s']:.1f}",
        ms(row["p50_ms"]),
        ms(row["p95_ms"]),
        ms(row["p99_ms"]),
        f"{row['failed_share']:.1%}",
        f"{row['unknown_share']:.1%}",
    )


TABLES = (("by_op", "operation"), ("by_phase", "phase"))
"""The two tables of a summary: key in ``to_json`` and what its first column names."""
