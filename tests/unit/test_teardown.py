"""Teardown: undos run in reverse, bounded in time, none skipped by another's error."""

from __future__ import annotations

import time

from walletchaos.teardown import Teardown


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
