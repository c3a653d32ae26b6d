"""Hand-built histories for judge tests: a tiny wallet model that writes history + audit like a run."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from walletchaos.ops import Fn, Kind, Op
from walletchaos.scenario import Scenario

MS = 1_000_000


def scenario(**over: Any) -> Scenario:
    base: dict[str, Any] = {"name": "t", "load": {"shape": [{"phase": "p", "for": "10s", "users": 1}]}}
    base.update(over)
    return Scenario.model_validate(base)


@dataclass
class Book:
    """Builds (history, audit). ``transfer`` applies to the ledger unless told otherwise."""

    balances: dict[int, int]
    history: list[dict[str, Any]] = field(default_factory=list)
    ledger: list[dict[str, Any]] = field(default_factory=list)
    clock: int = 0
    ids: itertools.count = field(default_factory=itertools.count)  # type: ignore[type-arg]
    tid: itertools.count = field(default_factory=lambda: itertools.count(1))  # type: ignore[type-arg]
    initial: dict[int, int] = field(default_factory=dict)
    applied: dict[str, Any] = field(default_factory=dict)
    """key -> the transfer id it was applied under (a replay answers the same id)."""

    def __post_init__(self) -> None:
        self.initial = dict(self.balances)
        accounts = [
            {"id": a, "username": f"u{a}", "kind": "user", "balance": b} for a, b in self.balances.items()
        ]
        self._op("setup", "accounts", {}, "ok", 201, {"accounts": accounts})

    def tick(self, ms: int = 10) -> int:
        self.clock += ms * MS
        return self.clock

    def _op(
        self,
        process: Any,
        f: str,
        value: dict[str, Any],
        kind: str,
        status: int | None,
        result: dict[str, Any] | None = None,
        duration_ms: int = 5,
        intended: int | None = None,
        error: str | None = None,
    ) -> None:
        op, fn = next(self.ids), Fn(f)
        start = self.tick()
        invoked = start if intended is None else intended
        self.history.append(Op(process, op, Kind.INVOKE, fn, start, value, intended=invoked).record())
        end = start + duration_ms * MS
        self.history.append(Op(process, op, Kind(kind), fn, end, result or None, status, error).record())
        self.clock = start + duration_ms * MS

    def post(self, key: str, src: Any, dst: Any, amount: int, transfer: Any = None) -> Any:
        """Apply one transfer to the ledger; returns its transfer id."""
        transfer = next(self.tid) if transfer is None else transfer
        for account, delta in ((src, -amount), (dst, amount)):
            self.ledger.append(
                {
                    "seq": len(self.ledger) + 1,
                    "transfer_id": transfer,
                    "idempotency_key": key,
                    "account": account,
                    "delta": delta,
                }
            )
            self.balances[account] += delta
        return transfer

    def transfer(
        self,
        key: str,
        src: int,
        dst: int,
        amount: int,
        kind: str = "ok",
        status: int = 201,
        applied: bool | None = None,
        f: str = "pay",
        process: int = 1,
        acting_as: int | None = None,
        duration_ms: int = 5,
        replay: bool = False,
        refund_of: Any = None,
    ) -> None:
        """One transfer call; applied to the ledger when ``applied`` (default: when ok). ``replay`` answers
        with the transfer already applied under ``key`` and applies nothing (a correct wallet's resend)."""
        value = {
            "key": key,
            "from": src,
            "to": dst,
            "amount": amount,
            "as": src if acting_as is None else acting_as,
        }
        if refund_of is not None:
            value["refund_of"] = refund_of
        tid = self.applied.get(key) if replay else None
        if not replay and (applied if applied is not None else kind == "ok"):
            tid = self.post(key, src, dst, amount)
            self.applied[key] = tid
        response = (
            {"id": tid, "response": {"from": src, "to": dst, "amount": amount}} if kind == "ok" else None
        )
        self._op(process, f, value, kind, status, response, duration_ms)

    def read(self, account: int, balance: int | None = None, process: int = 1) -> None:
        shown = self.balances[account] if balance is None else balance
        self._op(process, "balance", {"account": account, "as": account}, "ok", 200, {"balance": shown})

    def login(
        self,
        account: int,
        status: int,
        f: str = "attack",
        legit: bool = False,
        retry_after: float | None = None,
        duration_ms: int = 5,
    ) -> None:
        kind = "ok" if status == 201 else "fail"
        result = {"retry_after": retry_after} if retry_after is not None else None
        self._op(
            2,
            f,
            {"username": f"u{account}", "account": account, "legit": legit},
            kind,
            status,
            result,
            duration_ms,
        )

    def fault(
        self,
        name: str,
        target: str,
        apply_at_ms: int,
        heal_at_ms: int,
        healed: bool = True,
        heal_takes_ms: int = 1,
    ) -> None:
        """A fault applied at ``apply_at_ms`` (taking 1 ms) and healed from ``heal_at_ms`` for
        ``heal_takes_ms`` (a restart's heal takes as long as the restart)."""
        value = {"action": 0, "fault": name, "target": target, "params": {}}
        for f, at, kind, took in (
            ("apply", apply_at_ms, "ok", 1),
            ("heal", heal_at_ms, "ok" if healed else "info", heal_takes_ms),
        ):
            op = next(self.ids)
            self.history.append(Op("nemesis", op, Kind.INVOKE, Fn(f), at * MS, value).record())
            self.history.append(Op("nemesis", op, Kind(kind), Fn(f), (at + took) * MS, value).record())

    def audit(self, snapshot: dict[int, int] | None = None, **extra: Any) -> dict[str, Any]:
        snap = snapshot if snapshot is not None else self.balances
        return {
            "snapshot": {
                "total": sum(snap.values()),
                "accounts": [{"id": a, "balance": b} for a, b in snap.items()],
            },
            "ledger": list(self.ledger),
            "resolutions": {},
            "unresolved": [],
            "ledger_stable": True,
            "owner_reads": {str(a): {"balance": b} for a, b in self.balances.items()},
            **extra,
        }

    def records(self) -> list[dict[str, Any]]:
        from walletchaos.history import merge

        return merge(self.history)


def write_run(path: Any, book: Book, audit: dict[str, Any] | None = None, **scn: Any) -> Any:
    """Store (scenario, history, audit) as a run directory, as ``walletchaos run`` does."""
    import json
    from pathlib import Path

    from walletchaos import history

    run = Path(path)
    run.mkdir(parents=True, exist_ok=True)
    model = scenario(**scn)
    (run / "scenario.json").write_text(json.dumps(model.model_dump(mode="json", by_alias=True)))
    history.write(run / "history.jsonl", book.records())
    (run / "audit.json").write_text(json.dumps(audit if audit is not None else book.audit()))
    (run / "run.json").write_text(
        json.dumps(
            {
                "seed": 7,
                "runtime": "local",
                "rerun": "walletchaos run t.yaml --seed 7",
                "versions": {"runtime": "local"},
            }
        )
    )
    return run


def recovering_book(outage_ms: int) -> Book:
    """A fault healed at 1 s, followed by ``outage_ms`` of 503s, then healthy traffic."""
    book = Book({1: 10_000, 2: 0})
    book.fault("process.kill", "postgres", 0, 1_000)
    book.clock = 0
    i = 0
    while book.clock < (1_000 + outage_ms) * MS - 10 * MS:
        book.transfer(f"d{i}", 1, 2, 1, kind="fail", status=503, duration_ms=10)
        i += 1
    for i in range(300):
        book.transfer(f"u{i}", 1, 2, 1, duration_ms=10)
    return book
