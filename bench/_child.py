"""What every bench script that starts something shares: SIGTERM ends the script as Ctrl-C does (importing
this module installs the harness's handler; Python's default would exit at once and leak what the script
started), the children it starts are stopped on the way out with time to clean up after themselves, and its
work directories are deleted when it exits (``workdir``).

``subprocess.run`` is not enough for a child that holds resources: on Ctrl-C it waits 0.25 s and then
SIGKILLs the child, in the middle of the child's own teardown (a ``walletchaos run`` child would leave its
wallet, PostgreSQL and Toxiproxy running)."""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from walletchaos.teardown import Teardown, interruptible

interruptible()


def _excepthook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    """An interrupted script says so in a line, not a traceback: by the time its KeyboardInterrupt reaches
    the top, every ``reaped`` child has been stopped (the work directories go next, ``AT_EXIT``)."""
    if issubclass(kind, KeyboardInterrupt):
        print(f"{Path(sys.argv[0]).name}: interrupted; what it started is stopped", file=sys.stderr)
    else:
        sys.__excepthook__(kind, exc, tb)


sys.excepthook = _excepthook

AT_EXIT = Teardown()
"""Undos that run when the script exits (normally, on an error, on Ctrl-C or SIGTERM)."""
atexit.register(AT_EXIT.close)


def workdir(prefix: str) -> Path:
    """A new directory under the temporary one for the script's files and runs (``make bench`` writes tens
    of MB of runs), deleted when the script exits; kept, and named on stderr, when WALLETCHAOS_BENCH_KEEP is
    set (to look at the runs' reports)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    if os.environ.get("WALLETCHAOS_BENCH_KEEP"):
        AT_EXIT.push(f"name {path}", lambda: print(f"kept: {path}", file=sys.stderr))
    else:
        AT_EXIT.push(f"delete {path}", lambda: shutil.rmtree(path, ignore_errors=True))
    return path


@contextlib.contextmanager
def reaped(proc: subprocess.Popen[str], grace_s: float = 10) -> Iterator[subprocess.Popen[str]]:
    """``proc``, stopped if it still runs when the block ends (an interrupt, an error): SIGTERM, then SIGKILL
    after ``grace_s``."""

    def stop() -> None:
        if proc.returncode is None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(grace_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    with Teardown() as undo:
        undo.push(f"stop {proc.args!r}", stop, timeout_s=grace_s + 10)
        yield proc


def run(
    argv: list[str], grace_s: float = 180, check: bool = False, **popen: Any
) -> subprocess.CompletedProcess[str]:
    """``subprocess.run(argv, text=True, **popen)`` whose child, on an interrupt, gets SIGTERM and ``grace_s``
    to clean up (``reaped``) instead of SIGKILL after 0.25 s."""
    with reaped(subprocess.Popen(argv, text=True, **popen), grace_s) as proc:
        out, err = proc.communicate()
    done = subprocess.CompletedProcess(argv, proc.returncode, out, err)
    if check:
        done.check_returncode()
    return done
