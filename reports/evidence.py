"""Violations as evidence a reviewer can act on: every offending op as a row (time, op, key, amount,
accounts, response, what is wrong), the money at stake, every offending key, and for a bad deploy its blast
radius (how long the bad version was live on each replica and the requests it served there, from the
replicas' own /metrics)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from walletchaos.judge.model import Result

from .wallet_metrics import REQUESTS, on_v1, rises

SHOWN = 200
"""Offending ops shown as table rows in report.html (all of them are in verdict.json; all keys are listed)."""
COLUMNS = ("index", "t_s", "f", "key", "type", "status", "from", "to", "amount", "account")


@dataclass(frozen=True)
class Evidence:
    rows: list[dict[str, Any]]
    """The first ``SHOWN`` offenders: the known columns, then ``other`` (what is wrong, as text)."""
    total: int
    keys: list[str]
    impact: str | None


def of(result: Result) -> Evidence | None:
    offenders = result.details.get("offenders") or []
    if result.valid is not False or not offenders:
        return None
    rows = []
    for o in offenders[:SHOWN]:
        row = {c: o.get(c) for c in COLUMNS}
        row["other"] = ", ".join(f"{k}={v}" for k, v in o.items() if k not in COLUMNS)
        rows.append(row)
    keys = list(dict.fromkeys(str(o["key"]) for o in offenders if o.get("key")))
    return Evidence(rows, result.count or len(offenders), keys, impact(offenders))


def _misposted(o: dict[str, Any]) -> int | None:
    """For a transfer whose ledger legs differ from the request: the money moved wrongly (half the sum of the
    per-account differences: 212 posted for 211 is 1)."""
    found, wanted = o.get("found_legs"), o.get("wanted")
    if not isinstance(found, list) or not isinstance(wanted, list):
        return None
    delta: dict[str, int] = {}
    try:
        for sign, legs in ((1, found), (-1, wanted)):
            for account, amount in legs:
                delta[str(account)] = delta.get(str(account), 0) + sign * int(amount)
    except (TypeError, ValueError):
        return None
    return sum(abs(d) for d in delta.values()) // 2


def impact(offenders: list[dict[str, Any]]) -> str | None:
    """The money the offending transfers moved wrongly: a key applied n times moved its amount n-1 times
    too often; a transfer posted differently from its request moved the difference wrongly; any other
    offending transfer puts its whole amount at stake."""
    with_amount = [o for o in offenders if isinstance(o.get("amount"), int)]
    if not with_amount:
        return None
    wrong = [m for o in with_amount if (m := _misposted(o)) is not None]
    if wrong:
        n = len(wrong)
        return f"{sum(wrong):,} (minor units) posted differently from the requests, over {n} transfer(s)"
    extra = [o for o in with_amount if isinstance(o.get("applied"), int)]
    if extra:
        total = sum(o["amount"] * max(o["applied"] - 1, 0) for o in extra)
        return f"{total:,} (minor units) moved more than once, over {len(extra)} key(s)"
    total = sum(o["amount"] for o in with_amount)
    return f"{total:,} (minor units) at stake over {len(with_amount)} transfer(s)"


@dataclass(frozen=True)
class Blast:
    replica: str
    live_s: float
    """How long the bad version ran on this replica: its rollout there until its rollback there."""
    served: dict[str, int]
    """Requests it answered there, by status class (2xx, 4xx, 5xx), from the replica's /metrics."""


def blast_radius(lines: list[dict[str, Any]], fault: dict[str, Any]) -> list[Blast]:
    """For a deploy fault: per replica it reached, the bad version's live time and the /v1 requests it
    served (counted from the replica's restart with the bad version, the counters' zero, to its rollback)."""
    applied, healed = fault.get("applied") or {}, fault.get("healed") or {}
    rolled = applied.get("rolled_after_s") if isinstance(applied, dict) else None
    if not isinstance(rolled, dict):
        return []
    restored = healed.get("restored_after_s", {}) if isinstance(healed, dict) else {}
    heal_at = fault.get("heal_invoked_s", fault["healed_s"])
    # the rollback reaches the replicas one by one: replica i's begins when the one before it is back
    order = sorted(restored, key=lambda n: float(restored[n]))
    rollback_begins = {n: float(restored[order[i - 1]]) if i else 0.0 for i, n in enumerate(order)}
    out = []
    for name, after in rolled.items():
        start = fault["invoked_s"] + float(after)
        end = heal_at + rollback_begins[name] if name in rollback_begins else fault["healed_s"]
        index = int(name.removeprefix("wallet")) if name.removeprefix("wallet").isdigit() else -1
        out.append(Blast(name, round(end - start, 2), _served(lines, index, start, end)))
    return out


def _served(lines: list[dict[str, Any]], replica: int, start: float, end: float) -> dict[str, int]:
    """The /v1 requests one replica answered between ``start`` (its restart as the bad version: its counters
    began at zero) and ``end``, by status class."""
    window = [x for x in lines if x.get("replica") == replica and start <= float(x["t"]) <= end]
    served: dict[str, float] = {}
    status_class = lambda labels: labels.get("status", "?")[:1] + "xx"  # noqa: E731
    for _, _, cls, rise in rises(window, REQUESTS, status_class, on_v1, first_from_zero=True):
        served[cls] = served.get(cls, 0.0) + rise
    return {cls: round(v) for cls, v in sorted(served.items())}
