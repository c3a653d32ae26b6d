"""The terminal summary (rich): verdict, one line per check, evidence for the violated ones."""

from __future__ import annotations

import json

from rich.console import Console
from rich.table import Table
from rich.text import Text

from walletchaos import judge
from walletchaos.judge.model import validity_word

from . import summary

STYLE = {True: "green", False: "bold red", None: "yellow"}
MARK = {"valid": "PASS", "invalid": "FAIL", "unknown": "UNKNOWN", "not exercised": "NOT EXERCISED"}


def show_load(console: Console, load: dict[str, list[dict[str, object]]]) -> None:
    """The load summary (verdict.json's ``load``): per operation and per phase."""
    for key, first in summary.TABLES:
        table = Table(title=f"load by {first}", expand=False, title_justify="left")
        for i, head in enumerate((first, *summary.HEADER[1:])):
            table.add_column(head, justify="left" if i == 0 else "right")
        for row in load.get(key, []):
            table.add_row(*(Text(c) for c in summary.cells(row)))
        console.print(table)


def show(
    console: Console,
    verdict: judge.Verdict,
    title: str,
    load: dict[str, list[dict[str, object]]] | None = None,
) -> None:
    if load:
        show_load(console, load)
    table = Table(title=title, show_lines=False, expand=False)
    table.add_column("check")
    table.add_column("result")
    table.add_column("summary", overflow="fold")
    for r in verdict.results:
        style = "dim" if r.word == "not exercised" else STYLE[r.valid]
        table.add_row(Text(r.name), Text(MARK[r.word], style=style), Text(r.summary))
    console.print(table)
    for r in verdict.violated():
        console.print(Text.assemble((r.name, "bold red"), ": ", r.summary))
        for label in ("first", "worst", "last"):
            op = getattr(r, label)
            if op is not None:
                console.print(Text(f"   {label:5}: {json.dumps(op, default=str)}"), soft_wrap=True)
    stats = verdict.stats
    console.print(
        f"ops {stats.get('ops')} (ok {stats.get('ok', 0)}, fail {stats.get('fail', 0)}, "
        f"info {stats.get('info', 0)}), {stats.get('throughput')} ops/s, faults {stats.get('faults')}"
    )
    word = validity_word(verdict.valid).upper()
    console.print(f"verdict: [{STYLE[verdict.valid]}]{word}[/]")
