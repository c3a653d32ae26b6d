"""The terminal summary (rich): verdict, one line per check, evidence for the violated ones."""

from __future__ import annotations

import json

from rich.console import Console
from rich.table import Table

from walletchaos import judge
from walletchaos.judge.model import validity_word

STYLE = {True: "green", False: "bold red", None: "yellow"}
MARK = {True: "PASS", False: "FAIL", None: "UNKNOWN"}


def show(console: Console, verdict: judge.Verdict, title: str) -> None:
    table = Table(title=title, show_lines=False, expand=False)
    table.add_column("check")
    table.add_column("result")
    table.add_column("summary", overflow="fold")
    for r in verdict.results:
        table.add_row(r.name, f"[{STYLE[r.valid]}]{MARK[r.valid]}[/]", r.summary)
    console.print(table)
    for r in verdict.violated():
        console.print(f"[bold red]{r.name}[/]: {r.summary}")
        for label in ("first", "worst", "last"):
            op = getattr(r, label)
            if op is not None:
                console.print(f"   {label:5}: {json.dumps(op, default=str)}")
    stats = verdict.stats
    console.print(
        f"ops {stats.get('ops')} (ok {stats.get('ok', 0)}, fail {stats.get('fail', 0)}, "
        f"info {stats.get('info', 0)}), {stats.get('throughput')} ops/s, faults {stats.get('faults')}"
    )
    word = validity_word(verdict.valid).upper()
    console.print(f"verdict: [{STYLE[verdict.valid]}]{word}[/]")
