"""Reference wallet replicas as local processes."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

from ..errors import WalletError, log_tail
from .proc import ManagedProcess, http_ok, wait_until


class WalletProcess:
    """One replica: ``python -m reference_wallet`` on 127.0.0.1:port, admin token passed by environment."""

    def __init__(
        self,
        name: str,
        port: int,
        database_url: str,
        admin_token: str,
        log_path: Path,
        defects: Iterable[str] = (),
        settings: Mapping[str, object] | None = None,
    ) -> None:
        self.name, self.port, self.database_url = name, port, database_url
        self.admin_token, self.log_path = admin_token, log_path
        self.settings = dict(settings or {})
        self.defects = sorted(defects)
        self.proc: ManagedProcess | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def argv(self) -> list[str]:
        argv = [
            sys.executable,
            "-m",
            "reference_wallet",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--database-url",
            self.database_url,
        ]
        if self.defects:
            argv += ["--defects", ",".join(self.defects)]
        for key, value in sorted(self.settings.items()):
            argv += ["--set", f"{key}={value}"]
        return argv

    def start(self, defects: Iterable[str] | None = None, wait_s: float = 20.0, ready: bool = False) -> None:
        """(Re)start, optionally as another version; waits for /healthz, and for /readyz when ``ready``
        (a heal must not depend on the database being up)."""
        if defects is not None:
            self.defects = sorted(defects)
        self.proc = ManagedProcess(
            self.name, self.argv(), self.log_path, env={"WALLET_ADMIN_TOKEN": self.admin_token}
        )
        self.proc.start()
        probe = "/readyz" if ready else "/healthz"

        def up() -> bool:
            if self.proc is None or not self.proc.running:
                raise WalletError(
                    f"wallet {self.name} exited during start-up; the end of {self.log_path}:\n"
                    + log_tail(self.log_path)
                )
            return http_ok(self.url + probe)

        wait_until(up, wait_s, f"wallet {self.name} on port {self.port}")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop(grace_s=3)

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()

    def pause(self) -> None:
        if self.proc is not None:
            self.proc.pause()

    def resume(self) -> None:
        if self.proc is not None:
            self.proc.resume()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.running

    def is_up(self) -> bool:
        return self.running

    def redeploy(self, defects: list[str]) -> None:
        """Restart as the version carrying ``defects`` (liveness only: the database may be down)."""
        self.stop()
        self.start(defects=defects, ready=False)
