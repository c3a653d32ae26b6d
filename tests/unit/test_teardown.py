"""Teardown: undos run in reverse, bounded in time, none skipped by another's error."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from walletchaos.teardown import STILL, Teardown


def test_undos_run_in_reverse_and_an_error_skips_none() -> None:
    ran: list[str] = []
    said: list[str] = []
    undo = Teardown(said.append)

    def boom() -> None:
        ran.append("boom")
        raise RuntimeError("broken undo")

    undo.push("first", lambda: ran.append("first"))
    undo.push("boom", boom)
    undo.push("last", lambda: ran.append("last"))
    failures = undo.close()
    assert ran == ["last", "boom", "first"]
    assert failures == ["boom: RuntimeError: broken undo"]
    assert undo.close() == failures  # idempotent: nothing runs twice


def test_an_undo_that_hangs_is_abandoned_after_its_bound() -> None:
    ran: list[str] = []
    undo = Teardown(lambda _: None)
    undo.push("after", lambda: ran.append("after"))
    undo.push("hangs", lambda: time.sleep(5), timeout_s=0.2)
    started = time.monotonic()
    failures = undo.close()
    assert time.monotonic() - started < 2 and ran == ["after"]
    assert failures == ["hangs: still running after 0.2s"]


def test_an_interrupt_in_the_body_still_runs_every_undo() -> None:
    ran: list[str] = []
    said: list[str] = []
    try:
        with Teardown(said.append) as undo:
            undo.push("stop", lambda: ran.append("stop"))
            raise KeyboardInterrupt
    except KeyboardInterrupt:
        pass
    assert ran == ["stop"] and said == ["interrupted: healing faults and stopping everything"]


_TWO_SIGNALS = """
import sys, time, pathlib
from walletchaos.teardown import Teardown, interruptible
interruptible()
mark = pathlib.Path(sys.argv[1])
def say(message):  # slow to say it: the second signal lands before close() shields itself
    print(message, flush=True)
    time.sleep(1.0)
with Teardown(say) as undo:
    undo.push("mark", lambda: mark.write_text("undone"))
    print("ready", flush=True)
    time.sleep(30)
"""


def test_a_second_signal_on_the_way_to_the_teardown_does_not_skip_it(tmp_path: Path) -> None:
    """Signals come in pairs (``timeout -s INT`` signals the command and then its group; a bench script
    stops its interrupted child with SIGTERM): the second one, landing while the first's KeyboardInterrupt
    is still on its way into ``close``, must not raise again and skip every undo."""
    mark = tmp_path / "mark"
    proc = subprocess.Popen(
        [sys.executable, "-c", _TWO_SIGNALS, str(mark)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    proc.send_signal(signal.SIGINT)
    time.sleep(0.3)  # inside say("interrupted: ..."), before close()
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=20)
    assert mark.is_file(), f"the undo was skipped: {out} {err}"
    assert STILL in err
