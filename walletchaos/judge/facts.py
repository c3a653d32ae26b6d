"""Facts derived once from (scenario, history, audit) and shared by every check.

Ids are opaque (contract v1): account and transfer ids may be strings or integers. The judge never does
arithmetic on them; it compares them as strings (``aid``), so ``7`` and ``"7"`` name the same account and a
UUID is as good as a serial number.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from ..history import CLIENT_FS, TRANSFER_FS, Call, pair
from ..ops import AVAILABILITY_FS  # ops that count for availability: attackers' calls fail by design
from ..scenario import Scenario
from .columns import Columns

SESSION_FS = AVAILABILITY_FS
"""Ops a user sends with its own fresh session: a 401 there means the wallet lost the session."""


aid = str
"""An opaque id as a comparable string (None stays 'None', which matches nothing real). ``str`` itself, not
a function around it: the judge calls it millions of times."""


def read_balance(call: Call) -> int | None:
    """The balance an acknowledged read returned, or None when it holds none a check can use (a 200 whose
    body was cut off: histories written before the load classified those as unknown)."""
    balance = call.value.get("balance") if call.f == "balance" and call.type == "ok" else None
    return balance if isinstance(balance, int) and not isinstance(balance, bool) else None


def unavailable(call: Call) -> bool:
    """info, a definite failure that says the service was unavailable (5xx), or a 401 to the user's own
    valid session (sessions lost on a restart or not shared across replicas: the wallet could not serve)."""
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
    calls: list[Call]
    initial: dict[str, int]
    accounts: dict[str, dict[str, Any]]
    snapshot: dict[str, int] | None
    ledger: list[dict[str, Any]]
    resolved: dict[str, Any]
    unresolved_keys: set[str]
    windows: list[FaultWindow]
    load_end: int
    abort: Call | None = None
    audit: dict[str, Any] = field(default_factory=dict)
    snapshots: list[Call] = field(default_factory=list)
    """Audit snapshots taken during the load (Jepsen's bank reads)."""
    load_exit: dict[str, Any] = field(default_factory=dict)
    """How the load process ended: ``{"returncode", "clean"}`` (empty in older histories)."""
    balancer: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per replica (``wallet{i}``), the balancer's counters at the end of the load (empty without one)."""
    cols: Columns | None = None
    """The client calls and the ledger as columns (``columns.Columns``), for the relational checks."""

    @classmethod
    def build(cls, scenario: Scenario, history: list[dict[str, Any]], audit: dict[str, Any]) -> Facts:
        calls = pair(history)
        setup = next((c for c in calls if c.f == "accounts" and c.type == "ok"), None)
        accounts = {aid(a["id"]): a for a in (setup.value.get("accounts", []) if setup else [])}
        snap = audit.get("snapshot")
        client = [c for c in calls if c.f in CLIENT_FS]
        cols = Columns.from_records(history, audit.get("ledger", []), accounts)
        # Run isolation: a long-lived wallet holds other runs' accounts and postings. Money moves only among
        # the accounts this run created, so every invariant is judged on them; a transfer that leaks money
        # to another account still shows, as this run's accounts no longer conserve their total.
        return cls(
            scenario,
            client,
            {i: int(a["balance"]) for i, a in accounts.items()},
            accounts,
            {aid(a["id"]): int(a["balance"]) for a in snap["accounts"] if aid(a["id"]) in accounts}
            if snap
            else None,
            [p for p in audit.get("ledger", []) if aid(p.get("account")) in accounts],
            dict(audit.get("resolutions", {})),
            set(audit.get("unresolved", [])),
            _windows(calls),
            max((c.end or c.start for c in client), default=0),
            next((c for c in calls if c.invoke.get("process") == "harness" and c.f == "abort"), None),
            audit,
            [c for c in calls if c.f == "snapshot"],
            next((c.value for c in calls if c.f == "load_exit"), {}),
            next((c.value.get("replicas", {}) for c in calls if c.f == "balancer" and c.type == "ok"), {}),
            cols,
        )

    @property
    def db(self) -> Columns:
        assert self.cols is not None, "Facts.build makes the columns"
        return self.cols

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
    def key_times(self) -> dict[str, tuple[int | None, int]]:
        """idempotency key -> (when a call with it was first acknowledged or None, when it was first sent)."""
        out: dict[str, tuple[int | None, int]] = {}
        for key, calls in self.by_key.items():
            ends = [c.end for c in calls if c.type == "ok" and c.end is not None]
            out[key] = (min(ends) if ends else None, min(c.start for c in calls))
        return out

    @cached_property
    def account_orders(self) -> dict[str, Any]:
        """account -> its AccountOrder (refusals.py, next to the checks that read it)."""
        from .refusals import account_orders  # refusals imports this module

        return account_orders(self)

    @cached_property
    def ledger_keys(self) -> dict[str, dict[str, list[dict[str, Any]]]]:
        """key -> transfer_id -> postings."""
        out: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
        for post in self.ledger:
            out[post["idempotency_key"]][aid(post["transfer_id"])].append(post)
        return out

    @cached_property
    def replay(self) -> dict[str, int]:
        """initial balance + sum of ledger deltas, per account."""
        out = dict(self.initial)
        for post in self.ledger:
            account = aid(post["account"])
            out[account] = out.get(account, 0) + int(post["delta"])
        return out

    @cached_property
    def postings_by_account(self) -> dict[str, list[dict[str, Any]]]:
        """account -> its postings in ledger ``seq`` order (the contract's per-account commit order)."""
        out: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for post in sorted(self.ledger, key=_seq):
            out[aid(post["account"])].append(post)
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


def _seq(post: dict[str, Any]) -> tuple[int, Any]:
    """Sort key for ledger seq: numbers numerically, anything else as text after them."""
    seq = post.get("seq")
    return (0, seq) if isinstance(seq, int) else (1, str(seq))


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
                ((a.done or {}).get("value") or {}).get("result") or {},
                (((heal.done or {}).get("value") or {}).get("result") or {}) if heal else {},
                a.type == "ok",
                heal.start if heal else None,
                int(action),
            )
        )
    return out
