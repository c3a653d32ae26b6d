"""A bench script stopped by SIGTERM leaves nothing behind (the harness's own runs are covered by
e2e/test_interrupts.py): its wallet and its PostgreSQL cluster are stopped and the cluster directory
deleted, also when the script is the child of another bench script (``make bench``'s run_all) and only the
parent gets the signal. The script's work directory (the wallet's log) goes too."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

HOLDER = """\
import sys, time
from pathlib import Path
sys.path.insert(0, {bench!r})
from _wallet import cluster, wallet
with cluster() as c, wallet(c) as (proc, url):
    Path({ready!r}).write_text(f"{{c.base}} {{proc.pid}} {{c.proc.pid}} {{proc.log_path.parent}}")
    time.sleep(120)
"""

PARENT = """\
import sys
sys.path.insert(0, {bench!r})
import _child
_child.run([sys.executable, {holder!r}])
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is not alive: it only waits for its parent to reap it
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"


def _stop_and_check(tmp_path: Path, script: Path) -> None:
    ready = tmp_path / "ready"
    with subprocess.Popen([sys.executable, str(script)], stderr=subprocess.PIPE, text=True) as proc:
        try:
            deadline = time.monotonic() + 60
            while not ready.exists() and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.2)
            assert ready.exists(), f"the wallet never came up: {proc.stderr.read() if proc.stderr else ''}"
            directory, pid, postmaster, work = ready.read_text().split()
            assert _alive(int(pid)) and _alive(int(postmaster))
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)
            assert not Path(directory).exists(), "the cluster directory was left behind"
            assert not Path(work).exists(), "the wallet's work directory was left behind"
            assert not _alive(int(pid)), "the wallet was left running"
            assert not _alive(int(postmaster)), "PostgreSQL was left running"
        finally:
            if proc.poll() is None:
                proc.kill()


def test_sigterm_stops_a_bench_scripts_wallet_and_postgres(tmp_path: Path) -> None:
    holder = tmp_path / "holder.py"
    holder.write_text(HOLDER.format(bench=str(ROOT / "bench"), ready=str(tmp_path / "ready")))
    _stop_and_check(tmp_path, holder)


def test_sigterm_to_the_parent_reaches_the_child_bench_script(tmp_path: Path) -> None:
    holder = tmp_path / "holder.py"
    holder.write_text(HOLDER.format(bench=str(ROOT / "bench"), ready=str(tmp_path / "ready")))
    parent = tmp_path / "parent.py"
    parent.write_text(PARENT.format(bench=str(ROOT / "bench"), holder=str(holder)))
    _stop_and_check(tmp_path, parent)
