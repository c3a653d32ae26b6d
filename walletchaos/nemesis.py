"""The fault scheduler: applies and heals the plan's faults on time, records every action in the history,
and heals whatever is still active in ``heal_all`` (a run undo, registered when the nemesis exists)."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from typing import Any

from walletchaos import fault as registry
from walletchaos.fault import Fault
from walletchaos.ops import Fn, Kind, Op

from .live import LiveState
from .plan import FaultAction, Plan
from .stack.base import StackHandle


class Nemesis:
    def __init__(self, stack: StackHandle, plan: Plan, origin_ns: int, state: LiveState) -> None:
        self.stack, self.plan, self.origin_ns, self.state = stack, plan, origin_ns, state
        self.records: list[dict[str, Any]] = []
        self.active: dict[int, tuple[FaultAction, Fault]] = {}
        self._ids = itertools.count()
        self._lock = threading.Lock()
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None

    def now(self) -> int:
        return time.monotonic_ns() - self.origin_ns

    def record(self, f: str, value: dict[str, Any], action: Callable[[], dict[str, Any]]) -> bool:
        """Invoke + ok (with what was applied, read back) or info (with the error): the outcome is unknown."""
        op, fn = next(self._ids), Fn(f)
        with self._lock:
            self.records.append(Op("nemesis", op, Kind.INVOKE, fn, self.now(), value).record())
        try:
            result, kind, error = action(), Kind.OK, None
        except Exception as exc:
            result, kind, error = {}, Kind.INFO, f"{exc.__class__.__name__}: {exc}"
        done = Op("nemesis", op, kind, fn, self.now(), {**value, "result": result}, error=error)
        with self._lock:
            self.records.append(done.record())
        return kind == Kind.OK

    def start(self, load_start_ns: int) -> None:
        self.thread = threading.Thread(target=self._run, args=(load_start_ns,), name="nemesis", daemon=True)
        self.thread.start()

    def _run(self, load_start_ns: int) -> None:
        """The schedule; an internal failure is recorded (``crash`` op: the verdict becomes unknown) instead
        of dying silently with faults never applied."""
        try:
            self._schedule(load_start_ns)
        except Exception as exc:
            t, op = self.now(), next(self._ids)
            error = f"{exc.__class__.__name__}: {exc}"
            with self._lock:
                self.records += [
                    Op("nemesis", op, Kind.INVOKE, Fn.CRASH, t, {}).record(),
                    Op("nemesis", op, Kind.INFO, Fn.CRASH, t, error=error).record(),
                ]
            self.state.note(f"nemesis failed: {error}")

    def _schedule(self, load_start_ns: int) -> None:
        events = sorted(
            [(a.at, 0, a) for a in self.plan.faults] + [(a.heal_at, 1, a) for a in self.plan.faults],
            key=lambda e: (e[0], e[1]),
        )
        for at, is_heal, action in events:
            due = load_start_ns + int(at * 1e9)
            while self.now() < due and not self.stop.is_set():
                self._early_heals()
                time.sleep(min(0.1, max(0.0, (due - self.now()) / 1e9)))
            if self.stop.is_set():
                return
            self.heal(action.index, "scheduled") if is_heal else self.apply(action)

    def _early_heals(self) -> None:
        rate = float(self.state.stats.get("error_rate", 0.0))
        for index, (_, fault) in list(self.active.items()):
            reason = fault.should_heal_early(rate)
            if reason:
                self.heal(index, f"early: {reason}")

    def apply(self, action: FaultAction) -> None:
        cls, kind = registry.resolve(action.name)
        fault = cls(kind, action.target, action.params, self.stack)
        fault.progress = self.state.note
        self.active[action.index] = (action, fault)  # before applying: a partial apply is healed too
        self.state.active[action.index] = f"{action.name}@{action.target}"
        self.state.note(f"apply {action.name} on {action.target}")
        self.record("apply", self._value(action), fault.apply)

    def heal(self, index: int, reason: str) -> None:
        entry = self.active.pop(index, None)
        if entry is None:
            return
        action, fault = entry
        self.state.active.pop(index, None)
        self.state.note(f"heal {action.name} on {action.target} ({reason})")
        self.record("heal", {**self._value(action), "reason": reason}, fault.heal)

    def heal_all(self) -> None:
        self.stop.set()
        if self.thread is not None:
            self.thread.join(timeout=60)
        for index in list(self.active):
            self.heal(index, "final")

    @staticmethod
    def _value(action: FaultAction) -> dict[str, Any]:
        return {
            "action": action.index,
            "fault": action.name,
            "target": action.target,
            "params": action.params,
            "planned_at": action.at,
            "planned_heal_at": action.heal_at,
        }
