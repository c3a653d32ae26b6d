"""The history's one schema: what an op record holds, its kinds and functions, defined once and shared by
every writer (the load process, the nemesis, the auditor, the engine, the test builders) and the reader.

Standard library only: the load process imports it under gevent's monkey patching.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Kind(StrEnum):
    """An invoke, or how it completed: ok (definitely happened), fail (definitely not), info (unknown)."""

    INVOKE = "invoke"
    OK = "ok"
    FAIL = "fail"
    INFO = "info"


class Fn(StrEnum):
    """What an op does. Client calls first, then the harness's own actions."""

    PAY = "pay"
    P2P = "p2p"
    REFUND = "refund"
    UNAUTHORIZED = "unauthorized"
    BALANCE = "balance"
    LOGIN = "login"
    ATTACK = "attack"
    AUTH_PROBE = "auth_probe"
    ACCOUNTS = "accounts"  # set-up: the run's accounts
    APPLY = "apply"  # nemesis: a fault applied
    HEAL = "heal"  # nemesis: a fault healed
    CRASH = "crash"  # nemesis: its thread died (the verdict becomes unknown)
    SNAPSHOT = "snapshot"  # auditor: an audit snapshot during the load
    LOAD_START = "load_start"  # harness: the load's shape started (time 0 of the fault schedule)
    LOAD_EXIT = "load_exit"  # harness: how the load process ended
    ABORT = "abort"  # harness: abort_if stopped the load
    BALANCER = "balancer"  # harness: the balancer's per-replica counters at the end of the load


TRANSFER_FS = (Fn.PAY, Fn.P2P, Fn.REFUND, Fn.UNAUTHORIZED)
"""Calls that may move money (``unauthorized`` tries to debit another user's account)."""
CLIENT_FS = (*TRANSFER_FS, Fn.BALANCE, Fn.LOGIN, Fn.ATTACK, Fn.AUTH_PROBE)
AVAILABILITY_FS = (Fn.PAY, Fn.P2P, Fn.REFUND, Fn.BALANCE)
"""The calls whose answers say whether the wallet was serving."""


_KINDS = frozenset(k.value for k in Kind)
_FNS = frozenset(f.value for f in Fn)


class HistoryError(ValueError):
    """A record that does not follow the schema."""


@dataclass(frozen=True, slots=True)
class Op:
    """One record: an invoke or its completion, paired by (process, op)."""

    process: int | str
    op: int
    type: Kind
    f: Fn
    time: int
    value: dict[str, Any] | None = None
    status: int | None = None
    error: str | None = None
    intended: int | None = None
    index: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    """Fields a writer adds beside the schema's (kept as they are)."""

    def record(self) -> dict[str, Any]:
        """The JSON form: the schema's fields that are set, then ``extra``."""
        rec: dict[str, Any] = {
            "process": self.process,
            "op": self.op,
            "type": str(self.type),
            "f": str(self.f),
        }
        rec["time"] = self.time
        for name in ("value", "status", "error", "intended", "index"):
            v = getattr(self, name)
            if v is not None:
                rec[name] = v
        return {**rec, **self.extra}

    @classmethod
    def check(cls, rec: Any) -> None:
        """A record read back checked against the schema without building an Op (a reader checks millions);
        HistoryError names the field that is wrong."""
        if not isinstance(rec, dict):
            raise HistoryError("a record must be a JSON object")
        kind, fn = rec.get("type"), rec.get("f")
        if not (isinstance(kind, str) and kind in _KINDS and isinstance(fn, str) and fn in _FNS):
            try:
                Kind(str(kind)), Fn(str(fn))
            except ValueError as exc:
                raise HistoryError(f"type/f: {exc}") from None
        for name in ("op", "time"):
            if not isinstance(rec.get(name), int) or isinstance(rec.get(name), bool):
                raise HistoryError(f"{name}: an integer is required, got {rec.get(name)!r}")
        if not isinstance(rec.get("process"), int | str):
            raise HistoryError(f"process: an integer or a name is required, got {rec.get('process')!r}")
        if rec.get("value") is not None and not isinstance(rec["value"], dict):
            raise HistoryError("value: an object is required")

    @classmethod
    def parse(cls, rec: Any) -> Op:
        """A record read back, checked against the schema; HistoryError names the field that is wrong."""
        cls.check(rec)
        kind, fn = Kind(rec["type"]), Fn(rec["f"])
        known = {"process", "op", "type", "f", "time", "value", "status", "error", "intended", "index"}
        return cls(
            rec["process"],
            rec["op"],
            kind,
            fn,
            rec["time"],
            rec.get("value"),
            rec.get("status"),
            rec.get("error"),
            rec.get("intended"),
            rec.get("index"),
            {k: v for k, v in rec.items() if k not in known},
        )
