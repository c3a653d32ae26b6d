"""Facts derived once from (scenario, history, audit) and shared by every check.

Ids are opaque (contract v1): account and transfer ids may be strings or integers. The judge never does
arithmetic on them; it compares them as strings (``aid``), so ``7`` and ``"7"`` name the same account and a
UUID is as good as a serial number.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from ..history import Call, pair
from ..ops import AVAILABILITY_FS  # ops that count for availability: attackers' calls fail by design
from ..scenario import Scenario
from .columns import Columns

SESSION_FS = AVAILABILITY_FS
"""Ops a user sends with its own fresh session: a 401 there means the wallet lost the session."""


aid = str
"""An opaque id as a comparable string (None stays 'None', which matches nothing real); the columns' SQL
``aid()`` is the same function (``columns._AID``)."""


def unavailable(call: Call) -> bool:
    """info, a definite failure that says the service was unavailable (5xx), or a 401 to the user's own
    valid session (sessions lost on a restart or not shared across replicas: the wallet could not serve).
    The reports' Python form of the judge's ``timing.UNAVAILABLE``."""
    if call.type == "info":
        return True
    if call.type != "fail":
        return False
    status = call.status or 0
    return status >= 500 or (status == 401 and call.f in SESSION_FS)


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
    applied_ok: bool = True
    heal_begin: int | None = None  # ns: the heal was invoked
    action: int = -1  # the fault's index in scenario.faults


@dataclass
class Facts:
    scenario: Scenario
    db: Columns
    """The client calls and the run's ledger as columns (``columns.Columns``): what every check queries."""
    initial: dict[str, int]
    accounts: dict[str, dict[str, Any]]
    snapshot: dict[str, int] | None
    resolved: dict[str, Any]
    unresolved_keys: set[str]
    windows: list[FaultWindow]
    ops: int
    """How many client calls the history holds."""
    load_end: int
    abort: Call | None = None
    audit: dict[str, Any] = field(default_factory=dict)
    snapshots: list[Call] = field(default_factory=list)
    """Audit snapshots taken during the load (Jepsen's bank reads)."""
    load_exit: dict[str, Any] = field(default_factory=dict)
    """How the load process ended: ``{"returncode", "clean"}`` (empty in older histories)."""
    balancer: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per replica (``wallet{i}``), the balancer's counters at the end of the load (empty without one)."""

    @classmethod
    def build(cls, scenario: Scenario, db: Columns, audit: dict[str, Any]) -> Facts:
        """The facts of a run from its history's columns (``db``, which gains the ledger's tables) and its
        audit."""
        calls = pair(db.others)
        setup = next((c for c in calls if c.f == "accounts" and c.type == "ok"), None)
        accounts = {aid(a["id"]): a for a in (setup.value.get("accounts", []) if setup else [])}
        snap = audit.get("snapshot")
        # Run isolation: a long-lived wallet holds other runs' accounts and postings. Money moves only among
        # the accounts this run created, so every invariant is judged on them; a transfer that leaks money
        # to another account still shows, as this run's accounts no longer conserve their total.
        db.load_ledger(audit.get("ledger", []), accounts)
        ops, load_end = db.rows(
            'SELECT count(*), coalesce(max(CASE WHEN coalesce("end", 0) = 0 THEN start ELSE "end" END), 0) '
            "FROM calls"
        )[0]
        return cls(
            scenario,
            db,
            {i: int(a["balance"]) for i, a in accounts.items()},
            accounts,
            {aid(a["id"]): int(a["balance"]) for a in snap["accounts"] if aid(a["id"]) in accounts}
            if snap
            else None,
            dict(audit.get("resolutions", {})),
            set(audit.get("unresolved", [])),
            _windows(calls, load_end),
            ops,
            load_end,
            next((c for c in calls if c.invoke.get("process") == "harness" and c.f == "abort"), None),
            audit,
            [c for c in calls if c.f == "snapshot"],
            next((c.value for c in calls if c.f == "load_exit"), {}),
            next((c.value.get("replicas", {}) for c in calls if c.f == "balancer" and c.type == "ok"), {}),
        )

    # -- derived views ---------------------------------------------------------------------------------------
    @cached_property
    def replay(self) -> dict[str, int]:
        """initial balance + sum of ledger deltas, per account."""
        out = dict(self.initial)
        for account, total in self.db.rows(
            "SELECT account, sum(delta)::HUGEINT FROM ledger GROUP BY account"
        ):
            out[account] = out.get(account, 0) + int(total)
        return out

    @cached_property
    def ledger_accounts(self) -> int:
        """How many of the run's accounts the ledger has postings for."""
        return int(self.db.one("SELECT count(DISTINCT account) FROM ledger"))

    def summary(self) -> dict[str, Any]:
        counts = dict(self.db.rows("SELECT type, count(*) FROM calls GROUP BY type ORDER BY min(idx)"))
        span_s = max(self.load_end, 1) / 1e9
        return {
            "ops": self.ops,
            **counts,
            "duration_s": round(span_s, 2),
            "throughput": round(self.ops / span_s, 1),
            "ledger_postings": self.db.one("SELECT count(*) FROM ledger"),
            "faults": len(self.windows),
        }


def _windows(calls: list[Call], load_end: int) -> list[FaultWindow]:
    applies = [c for c in calls if c.invoke.get("process") == "nemesis" and c.f == "apply"]
    heals = {
        c.invoke["value"]["action"]: c
        for c in calls
        if c.invoke.get("process") == "nemesis" and c.f == "heal"
    }
    end = max(max((c.end or c.start for c in calls), default=0), load_end)
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
                ((a.done or {}).get("value") or {}).get("result") or {},
                (((heal.done or {}).get("value") or {}).get("result") or {}) if heal else {},
                a.type == "ok",
                heal.start if heal else None,
                int(action),
            )
        )
    return out
