"""The live view in a CI log (not a terminal): every event printed once, as it happens, with its time on the
run's clock; the periodic status line never says `phase=None`."""

from __future__ import annotations

import io
import time

from rich.console import Console

from walletchaos.live import LiveState, LiveView


def test_plain_view_prints_each_event_once_with_its_time() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=False, width=60)
    state = LiveState(30.0, "t")
    state.note("before the load: no clock yet")
    state.started = time.monotonic() - 6.0
    with LiveView(state, console) as view:
        view.update()
        state.note("apply process.kill on wallet[1]")
        for i in range(8):  # more events between two updates than the view keeps on screen
            state.note(f"deploy: wallet{i} now runs the new version")
        view.update()
        view.update()
    text = out.getvalue()
    assert text.count("before the load: no clock yet") == 1
    assert "[  6.0s] apply process.kill on wallet[1]" in text, text
    assert text.count("deploy: wallet7 now runs") == 1 and "phase=-" in text and "None" not in text
    lines = text.splitlines()
    assert all(len(line) <= 60 or "[" in line for line in lines)
