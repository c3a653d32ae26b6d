"""The live view while a scenario runs: phase, elapsed/total, ops/s, error rate, p99, active faults."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text


@dataclass
class LiveState:
    total_s: float
    scenario: str
    stats: dict[str, Any] = field(default_factory=dict)
    active: dict[int, str] = field(default_factory=dict)
    events: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    started: float | None = None
    """time.monotonic() at the load's start: events carry their time on the run's clock from then on."""
    noted: int = 0

    def note(self, message: str) -> None:
        at = "" if self.started is None else f"[{time.monotonic() - self.started:5.1f}s] "
        with self.lock:
            self.events = [*self.events[-499:], at + message]  # the screen shows the last 6
            self.noted += 1

    def since(self, seen: int) -> list[str]:
        """The events noted after the first ``seen`` (as many as are still kept)."""
        with self.lock:
            return self.events[-min(self.noted - seen, len(self.events)) :] if self.noted > seen else []


def render(state: LiveState) -> RenderableType:
    s = state.stats
    t = float(s.get("t", 0.0))
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold cyan")
    table.add_column()
    rate = s.get("error_rate", 0.0)
    p99 = s.get("p99_ms")
    table.add_row("scenario", state.scenario)
    table.add_row("phase", f"{s.get('phase') or '-'}  ({s.get('users', 0)} users)")
    table.add_row("elapsed", f"{t:5.1f}s / {state.total_s:.0f}s")
    table.add_row(
        "ops/s", f"{s.get('ok', 0) + s.get('fail', 0) + s.get('info', 0)}  (total {s.get('completed', 0)})"
    )
    table.add_row("error rate", Text(f"{rate:.1%}", style="red" if rate > 0.05 else "green"))
    table.add_row("p99", "-" if p99 is None else f"{p99:.0f} ms")
    if s.get("dropped"):  # open-model arrivals that found no free user, so far
        table.add_row("dropped", Text(f"{s['dropped']} arrivals", style="yellow"))
    with state.lock:
        faults = ", ".join(state.active.values()) or "none"
        events = list(state.events)
    table.add_row("active faults", Text(faults, style="yellow" if state.active else "dim"))
    table.add_row(
        "progress", ProgressBar(total=max(state.total_s, 1), completed=min(t, state.total_s), width=50)
    )
    return Group(table, *(Text(e, style="dim") for e in events[-6:]))


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}ms"


class LiveView:
    """A rich Live on a terminal; plain lines every few seconds when output is not a terminal (CI)."""

    def __init__(self, state: LiveState, console: Console) -> None:
        self.state, self.console = state, console
        self.live = (
            Live(render(state), console=console, refresh_per_second=4, transient=False)
            if console.is_terminal
            else None
        )
        self._last_plain = -10.0
        self._seen = 0

    def __enter__(self) -> LiveView:
        if self.live:
            self.live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.live:
            self.live.__exit__(*exc)

    def update(self) -> None:
        if self.live:
            self.live.update(render(self.state))
            return
        for event in self.state.since(self._seen):  # CI logs: every event, as it happens, with its time
            self.console.print(Text(event), soft_wrap=True)
        self._seen = self.state.noted
        t = float(self.state.stats.get("t", 0.0))
        if t - self._last_plain >= 5:
            self._last_plain = t
            s = self.state.stats
            faults = ", ".join(self.state.active.values()) or "none"
            self.console.print(
                Text(
                    f"[{t:5.1f}s] phase={s.get('phase') or '-'} users={s.get('users', 0)} "
                    f"completed={s.get('completed', 0)} err={s.get('error_rate', 0):.1%} "
                    f"p99={_ms(s.get('p99_ms'))} faults: {faults}"
                ),
                soft_wrap=True,
            )
