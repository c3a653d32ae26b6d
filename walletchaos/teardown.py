"""Teardown as one mechanism: every resource registers its undo the moment it exists; ``close`` runs the
undos in reverse order, each bounded in time, none skipped by another's error or by a second Ctrl-C.

    undo = Teardown()
    cluster = PostgresCluster.fresh(port)
    undo.push("delete the cluster directory", cluster.destroy)
    ...
    undo.close()          # or: with Teardown() as undo: ...

While ``close`` runs, SIGINT and SIGTERM only print "still cleaning up": abandoning a teardown halfway
is what leaks processes, containers and cluster directories. Before it runs, ``interruptible`` sees to the
same: only the first signal interrupts.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType, TracebackType
from typing import Any

STILL = "still cleaning up: every fault is being healed and every process stopped"
"""What a signal after the first one gets (``raise_interrupt``, ``Teardown.close``): a message, no effect."""


def _still(signum: int, frame: FrameType | None) -> None:
    print(STILL, file=sys.stderr, flush=True)


def raise_interrupt(signum: int, frame: FrameType | None) -> None:
    """The SIGINT and SIGTERM handler (``interruptible``): the first signal ends the process like Ctrl-C
    (``KeyboardInterrupt``), so that every undo runs, never abruptly (Python's default for SIGTERM exits at
    once and leaks whatever the process started). Every later one only prints ``STILL``: one that arrived
    while the first's KeyboardInterrupt was still on its way to a ``Teardown`` (before ``close`` shields
    itself) would raise a second one there and skip every undo. Signals come in pairs: ``timeout -s INT``
    signals a command and then its process group, and a Ctrl-C reaches a bench script and its
    ``walletchaos run`` child, which the script then stops with SIGTERM; such a child left its wallets,
    PostgreSQL and Toxiproxy running."""
    for sig in INTERRUPTS:
        signal.signal(sig, _still)
    raise KeyboardInterrupt


INTERRUPTS = (signal.SIGINT, signal.SIGTERM)


def interruptible() -> Callable[[], None]:
    """Installs ``raise_interrupt`` for SIGINT and SIGTERM; returns what puts the previous handlers back."""
    return _handle(raise_interrupt)


def _handle(handler: Callable[[int, FrameType | None], Any]) -> Callable[[], None]:
    """``handler`` for SIGINT and SIGTERM (main thread only: elsewhere Python refuses, and nothing changes);
    returns what puts the previous handlers back."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = {sig: signal.signal(sig, handler) for sig in INTERRUPTS}

    def restore() -> None:
        for sig, previous_handler in previous.items():
            signal.signal(sig, previous_handler)

    return restore


@dataclass
class Undo:
    what: str
    fn: Callable[[], Any]
    timeout_s: float


class Teardown:
    def __init__(self, say: Callable[[str], None] | None = None, default_timeout_s: float = 30.0) -> None:
        self.say = say or (lambda message: print(message, file=sys.stderr, flush=True))
        self.default_timeout_s = default_timeout_s
        self._undos: list[Undo] = []
        self._lock = threading.Lock()
        self.failures: list[str] = []

    def push(self, what: str, fn: Callable[[], Any], timeout_s: float | None = None) -> None:
        """Register ``fn`` to run at close (last pushed runs first); ``what`` names it in messages."""
        with self._lock:
            self._undos.append(Undo(what, fn, self.default_timeout_s if timeout_s is None else timeout_s))

    def close(self) -> list[str]:
        """Run every undo in reverse order; returns (and keeps) the ones that failed or timed out."""
        restore = self._shield()
        try:
            while True:
                with self._lock:
                    if not self._undos:
                        break
                    undo = self._undos.pop()
                self._run(undo)
        finally:
            restore()
        return self.failures

    def _run(self, undo: Undo) -> None:
        error: list[BaseException] = []

        def target() -> None:
            try:
                undo.fn()
            except BaseException as exc:  # an undo's error must not skip the others
                error.append(exc)

        worker = threading.Thread(target=target, name=f"undo: {undo.what}", daemon=True)
        worker.start()
        worker.join(undo.timeout_s)
        if worker.is_alive():
            self.failures.append(f"{undo.what}: still running after {undo.timeout_s:g}s")
        elif error:
            self.failures.append(f"{undo.what}: {error[0].__class__.__name__}: {error[0]}")

    def _shield(self) -> Callable[[], None]:
        """Replace SIGINT/SIGTERM handlers by a message while the teardown runs (main thread only)."""

        def busy(signum: int, frame: FrameType | None) -> None:
            self.say(STILL)

        return _handle(busy)

    def __enter__(self) -> Teardown:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if kind is KeyboardInterrupt:
            self.say("interrupted: healing faults and stopping everything")
        self.close()
