"""A throwaway PostgreSQL cluster from Debian's packages: initdb --no-sync, one port on 127.0.0.1, the
socket inside the cluster's own folder. PostgreSQL refuses to run as root, so as root the cluster belongs
to the ``postgres`` user."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InfraError
from .proc import ManagedProcess, port_open, wait_until


def pg_bindir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).resolve().parent
    raise InfraError("PostgreSQL server binaries not found: run `make setup` (installs Debian's postgresql)")


def _as_owner() -> dict[str, Any]:
    """subprocess keyword arguments that drop to the postgres user when we are root."""
    if os.geteuid() != 0:
        return {}
    return {"user": "postgres", "group": "postgres", "extra_groups": []}


@dataclass
class PostgresCluster:
    """``init()`` once, then ``start()`` / ``stop()`` / ``kill()`` / ``pause()`` as often as needed.

    ``base`` must be reachable by the postgres user: use ``PostgresCluster.fresh()`` for a folder in the
    system temp dir (run folders may sit under private home directories).
    """

    base: Path
    port: int
    name: str = "postgres"
    user: str = "wallet"
    password: str = "wallet"
    database: str = "wallet"

    def __post_init__(self) -> None:
        self.bindir = pg_bindir()
        self.data = self.base / "data"
        self.proc = ManagedProcess(
            "postgres",
            [
                str(self.bindir / "postgres"),
                "-D",
                str(self.data),
                "-p",
                str(self.port),
                "-k",
                str(self.base),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=off",
                "-c",
                "max_connections=200",
                "-c",
                "shared_buffers=128MB",
            ],
            self.base / "postgres.log",
            cwd=str(self.base),
            **_as_owner(),
        )

    @classmethod
    def fresh(cls, port: int, tag: str = "") -> PostgresCluster:
        """A new cluster directory ``/tmp/walletchaos-pg-[TAG-]XXXX`` (the tag lets a sweep find it)."""
        return cls(Path(tempfile.mkdtemp(prefix=f"walletchaos-pg-{tag + '-' if tag else ''}")), port)

    @property
    def dsn(self) -> str:
        return f"postgresql://{self.user}:{self.password}@127.0.0.1:{self.port}/{self.database}"

    def dsn_via(self, port: int) -> str:
        return self.dsn.replace(f":{self.port}/", f":{port}/")

    def init(self) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(self.base, pw.pw_uid, pw.pw_gid)
        self._run(
            [
                str(self.bindir / "initdb"),
                "-D",
                str(self.data),
                "--no-sync",
                "-A",
                "trust",
                "-U",
                "postgres",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
            ]
        )
        self.start()
        for sql in (
            f"CREATE ROLE {self.user} LOGIN CREATEDB PASSWORD '{self.password}'",
            f"CREATE DATABASE {self.database} OWNER {self.user}",
        ):
            self._run(
                [
                    str(self.bindir / "psql"),
                    "-h",
                    str(self.base),
                    "-p",
                    str(self.port),
                    "-U",
                    "postgres",
                    "-v",
                    "ON_ERROR_STOP=1",
                    "-qc",
                    sql,
                ]
            )

    def _client(self, program: str) -> list[str]:
        """A client program of this PostgreSQL, connected to this cluster as the superuser."""
        return [str(self.bindir / program), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres"]

    def sql(self, query: str) -> str:
        """One statement as the superuser over the cluster's own socket; its output, unaligned."""
        done = subprocess.run(
            [*self._client("psql"), "-v", "ON_ERROR_STOP=1", "-Atqc", query],
            cwd=str(self.base),
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
            **_as_owner(),
        )
        if done.returncode != 0:
            raise InfraError(f"psql on port {self.port}: {done.stderr.strip()[-300:]}")
        return str(done.stdout).strip()

    def clone_as_standby_of(self, primary: PostgresCluster, via_port: int = 0) -> None:
        """An empty data directory made a streaming standby of ``primary`` (pg_basebackup -R), started;
        through ``via_port`` (a proxy to the primary) when given, so the stream itself can be faulted.
        Also how a failed primary is rebuilt: its old data directory is discarded first."""
        self.proc.stop()
        shutil.rmtree(self.data, ignore_errors=True)
        self.base.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(self.base, pw.pw_uid, pw.pw_gid)
        options = ["-D", str(self.data), "-R", "-X", "stream", "--no-sync", "-c", "fast"]
        source = primary._client("pg_basebackup")
        if via_port:
            source[source.index(str(primary.port))] = str(via_port)
        self._run([*source, *options, "-d", f"application_name={self.name}"])
        self.start()

    def promote(self, timeout_s: float = 20) -> None:
        """A standby becomes a primary (pg_ctl promote), and is waited for until it takes writes."""
        self._run(
            [str(self.bindir / "pg_ctl"), "promote", "-D", str(self.data), "-w", "-t", str(int(timeout_s))]
        )
        wait_until(
            lambda: self.sql("SELECT pg_is_in_recovery()") == "f", timeout_s, f"{self.name} to promote"
        )

    def streaming_to(self, standby: str) -> str | None:
        """The replication state of ``standby`` (application_name) on this primary: sync_state or None."""
        out = self.sql(f"SELECT sync_state FROM pg_stat_replication WHERE application_name = '{standby}'")
        return out or None

    def start(self, timeout_s: float = 20) -> None:
        self.proc.start()
        wait_until(self.accepting, timeout_s, f"PostgreSQL on port {self.port}")

    def accepting(self) -> bool:
        if not self.proc.running:
            raise InfraError(f"PostgreSQL exited; see {self.proc.log_path}")
        # as the superuser: pg_isready's default user, this process's (root), made the server log a FATAL
        # "role does not exist" into every run's postgres.log
        done = subprocess.run([*self._client("pg_isready"), "-q"], check=False)
        return done.returncode == 0

    def stop(self) -> None:
        """Fast shutdown (SIGINT to the postmaster), SIGKILL if it takes too long."""
        self.proc.signal(signal.SIGCONT)
        if self.proc.proc is not None and self.proc.running:
            self.proc.proc.send_signal(signal.SIGINT)
            if not self.proc._reap(10):
                self.proc.kill()

    def kill(self) -> None:
        self.proc.kill()

    def pause(self) -> None:
        self.proc.pause()

    def resume(self) -> None:
        self.proc.resume()

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)

    def is_up(self) -> bool:
        return self.proc.running and port_open(self.port)

    def _run(self, argv: list[str]) -> None:
        done = subprocess.run(
            argv, cwd=str(self.base), capture_output=True, text=True, check=False, **_as_owner()
        )
        if done.returncode != 0:
            raise InfraError(f"{Path(argv[0]).name} failed ({done.returncode}): {done.stderr.strip()[-500:]}")
