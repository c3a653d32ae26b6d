"""Reference wallet replicas as local processes."""

from __future__ import annotations

import shlex
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

from ..errors import InfraError, WalletError, log_tail
from . import reference
from .base import Version
from .proc import ManagedProcess, http_ok, wait_until

PLACEHOLDERS = ("host", "port", "database_url", "admin_token", "replica", "python")


def template_problem(command: str) -> str | None:
    """Why ``command`` is not a usable wallet command template, or None."""
    try:
        shlex.split(command.format(**dict.fromkeys(PLACEHOLDERS, "x")))
    except KeyError as exc:
        return f"unknown placeholder {{{exc.args[0]}}} (valid: {', '.join(sorted(PLACEHOLDERS))})"
    except (ValueError, IndexError) as exc:
        return f"not a command line: {exc}"
    return None if command.strip() else "an empty command"


def wallet_env(
    values: Mapping[str, str], settings: Mapping[str, object], extra: Mapping[str, str]
) -> dict[str, str]:
    """The environment of your wallet, process or container: the placeholder values (HOST, PORT,
    DATABASE_URL, ADMIN_TOKEN, REPLICA), WALLET_ADMIN_TOKEN, settings as WALLETCHAOS_SETTING_<NAME>, then
    the scenario's ``wallet.env``."""
    env = {k.upper(): v for k, v in values.items()}
    env["WALLET_ADMIN_TOKEN"] = values["admin_token"]
    env.update({f"WALLETCHAOS_SETTING_{k.upper()}": str(v) for k, v in settings.items()})
    return env | dict(extra)


class WalletProcess:
    """One replica: the wallet command on 127.0.0.1:port. Placeholders {host} {port} {database_url}
    {admin_token} {replica} {python} are filled in, and the same values are in the environment as HOST,
    PORT, DATABASE_URL, ADMIN_TOKEN (and WALLET_ADMIN_TOKEN), REPLICA; scenario settings arrive as
    WALLETCHAOS_SETTING_<NAME>. ``defects`` names what the version carries (the reference wallet's
    catalog), for the report and deploy read-back."""

    def __init__(
        self,
        name: str,
        port: int,
        database_url: str,
        admin_token: str,
        log_path: Path,
        defects: Iterable[str] = (),
        settings: Mapping[str, object] | None = None,
        command: str | None = None,
        start_timeout_s: float = 30.0,
        extra_env: Mapping[str, str] | None = None,
    ) -> None:
        self.name, self.port, self.database_url = name, port, database_url
        self.admin_token, self.log_path = admin_token, log_path
        self.settings = dict(settings or {})
        self.defects = sorted(defects)
        self.command = command
        self.start_timeout_s = start_timeout_s
        self.extra_env = dict(extra_env or {})
        self.proc: ManagedProcess | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def values(self) -> dict[str, str]:
        return {
            "host": "127.0.0.1",
            "port": str(self.port),
            "database_url": self.database_url,
            "admin_token": self.admin_token,
            "replica": self.name.removeprefix("wallet"),
            "python": sys.executable,
        }

    def argv(self) -> list[str]:
        template = self.command or reference.command(self.defects, self.settings)
        return shlex.split(template.format(**self.values()))

    def env(self) -> dict[str, str]:
        values = {k: v for k, v in self.values().items() if k != "python"}
        return wallet_env(values, self.settings, self.extra_env)

    @property
    def version(self) -> Version:
        return Version(tuple(self.defects), self.command)

    def running_version(self) -> Version:
        if self.command is None:
            return Version(tuple(reference.read_defects(self.url)))
        pid = self.proc.pid if self.proc is not None and self.proc.running else None
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[:-1] if pid else []
        except OSError as exc:
            raise InfraError(f"{self.name}: cannot read its command line: {exc}") from exc
        if [a.decode(errors="replace") for a in argv] != self.argv():
            raise InfraError(f"{self.name} runs {shlex.join(a.decode() for a in argv)!r}, not its command")
        return Version(command=self.command)

    def start(self, version: Version | None = None, wait_s: float = 20.0, ready: bool = False) -> None:
        """(Re)start, optionally as another version; waits for /healthz, and for /readyz when ``ready``
        (a heal must not depend on the database being up)."""
        if version is not None:
            self.defects, self.command = sorted(version.defects), version.command
        self.proc = ManagedProcess(self.name, self.argv(), self.log_path, env=self.env())
        self.proc.start()
        probe = "/readyz" if ready else "/healthz"

        def up() -> bool:
            if self.proc is None or not self.proc.running:
                raise WalletError(
                    f"wallet {self.name} exited during start-up; the end of {self.log_path}:\n"
                    + log_tail(self.log_path)
                )
            return http_ok(self.url + probe)

        try:
            wait_until(up, wait_s, f"wallet {self.name} on port {self.port} ({probe} answering 200)")
        except WalletError:
            raise
        except InfraError as exc:
            raise InfraError(f"{exc}; the end of {self.log_path}:\n{log_tail(self.log_path)}") from None

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

    def redeploy(self, version: Version) -> None:
        """Restart as ``version`` (liveness only: the database may be down)."""
        self.stop()
        self.start(version, ready=False)
