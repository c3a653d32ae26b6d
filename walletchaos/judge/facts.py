"""Facts derived once from (scenario, history, audit) and shared by every check."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from ..history import CLIENT_FS, TRANSFER_FS, Call, pair
from ..scenario import Scenario

AVAILABILITY_FS = ("pay", "p2p", "refund", "balance")
"""Ops that count for availability: attackers' and forbidden calls fail by design."""


def unavailable(call: Call) -> bool:
    """info, or a definite failure that says the service was unavailable (503)."""
    return call.type == "info" or (call.type == "fail" and (call.status or 0) >= 500)


@dataclass(frozen=True)
class FaultWindow:
    label: str
    name: str
    target: str
    apply_index: int
    begin: int  # ns: the apply was invoked (a rolling deploy already hurts while it is applied)
    start: int  # ns: applied (completion of the apply op)
    end: int  # ns: healed (completion of the heal op), or end of history when never healed
    healed_ok: bool
    applied: dict[str, Any] = field(default_factory=dict)
    healed: dict[str, Any] = field(default_factory=dict)


@dataclass
class Facts:
    scenario: Scenario
    calls: list[Call]
    initial: dict[int, int]
    accounts: dict[int, dict[str, Any]]
    snapshot: dict[int, int] | None
    ledger: list[dict[str, Any]]
    resolved: dict[str, Any]
    unresolved_keys: set[str]
    windows: list[FaultWindow]
    load_end: int
    abort: Call | None = None

    @classmethod
    def build(cls, scenario: Scenario, history: list[dict[str, Any]], audit: dict[str, Any]) -> Facts:
        calls = pair(history)
        setup = next((c for c in calls if c.f == "accounts" and c.type == "ok"), None)
        accounts = {int(a["id"]): a for a in (setup.value.get("accounts", []) if setup else [])}
        snap = audit.get("snapshot")
        client = [c for c in calls if c.f in CLIENT_FS]
        return cls(
            scenario,
            client,
            {i: int(a["balance"]) for i, a in accounts.items()},
            accounts,
            {int(a["id"]): int(a["balance"]) for a in snap["accounts"]} if snap else None,
            list(audit.get("ledger", [])),
            dict(audit.get("resolutions", {})),
            set(audit.get("unresolved", [])),
            _windows(calls),
            max((c.end or c.start for c in client), default=0),
            next((c for c in calls if c.invoke.get("process") == "harness" and c.f == "abort"), None),
        )

    # -- derived views ---------------------------------------------------------------------------------------
    def transfers(self) -> list[Call]:
        return [c for c in self.calls if c.f in TRANSFER_FS]

    @cached_property
    def by_key(self) -> dict[str, list[Call]]:
        """idempotency key -> the transfer calls that sent it."""
        out: dict[str, list[Call]] = defaultdict(list)
        for c in self.transfers():
            if c.key:
                out[c.key].append(c)
        return out

    @cached_property
    def ledger_keys(self) -> dict[str, dict[int, list[dict[str, Any]]]]:
        """key -> transfer_id -> postings."""
        out: dict[str, dict[int, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
        for post in self.ledger:
            out[post["idempotency_key"]][int(post["transfer_id"])].append(post)
        return out

    @cached_property
    def replay(self) -> dict[int, int]:
        """initial balance + sum of ledger deltas, per account."""
        out = dict(self.initial)
        for post in self.ledger:
            out[int(post["account"])] = out.get(int(post["account"]), 0) + int(post["delta"])
        return out

    def summary(self) -> dict[str, Any]:
        counts: dict[str, int] = defaultdict(int)
        for c in self.calls:
            counts[c.type] += 1
        span_s = max(self.load_end, 1) / 1e9
        return {
            "ops": len(self.calls),
            **counts,
            "duration_s": round(span_s, 2),
            "throughput": round(len(self.calls) / span_s, 1),
            "ledger_postings": len(self.ledger),
            "faults": len(self.windows),
        }


def _windows(calls: list[Call]) -> list[FaultWindow]:
    applies = [c for c in calls if c.invoke.get("process") == "nemesis" and c.f == "apply"]
    heals = {
        c.invoke["value"]["action"]: c
        for c in calls
        if c.invoke.get("process") == "nemesis" and c.f == "heal"
    }
    end = max((c.end or c.start for c in calls), default=0)
    out = []
    for a in applies:
        action = a.invoke["value"]["action"]
        heal = heals.get(action)
        name, target = a.invoke["value"]["fault"], a.invoke["value"]["target"]
        out.append(
            FaultWindow(
                f"{name} on {target}",
                name,
                target,
                a.index,
                a.start,
                a.end or a.start,
                (heal.end or heal.start) if heal else end,
                heal is not None and heal.type == "ok",
                (a.done or {}).get("value") or {},
                ((heal.done or {}).get("value") or {}) if heal else {},
            )
        )
    return out
