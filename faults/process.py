"""Process faults on PostgreSQL and wallet replicas: kill, stop/start, pause/resume, restart.

The same actions exist on both runtimes (signals on local processes, the Docker API on containers)."""

from __future__ import annotations

from typing import Any, ClassVar

from walletchaos.errors import InfraError
from walletchaos.fault import Fault, Problems


class ProcessFault(Fault):
    family = "process"
    kinds: ClassVar[dict[str, str]] = {
        "kill": "SIGKILL the service; heal starts it again",
        "stop": "graceful stop; heal starts it again",
        "pause": "freeze it (SIGSTOP / docker pause); heal resumes it",
        "restart": "stop and start at once; heal checks it is up",
        "failover": "postgres only (database.standby): SIGKILL the primary, promote the standby, point "
        "the db link at it; heal rebuilds the old primary as the new standby",
    }
    targets = ("postgres", "wallet")
    color = "#e15759"

    @classmethod
    def check(cls, kind: str, target: str, params: dict[str, Any]) -> Problems:
        problems = super().check(kind, target, params)
        if kind == "failover" and target != "postgres":
            problems.append(("target", f"process.failover acts on 'postgres' (the primary), not '{target}'"))
        return problems

    @classmethod
    def check_params(cls, kind: str, params: dict[str, Any]) -> Problems:
        return [("params", f"process.{kind} takes no parameters; got '{k}'") for k in params]

    def apply(self) -> dict[str, Any]:
        if self.kind == "failover":
            return self.stack.failover()
        done = {}
        for service in self.stack.services(self.target):
            {"kill": service.kill, "stop": service.stop, "pause": service.pause}.get(
                self.kind, lambda s=service: (s.stop(), s.start())
            )()
            done[service.name] = {"up": service.is_up()}
        return done

    def heal(self) -> dict[str, Any]:
        if self.kind == "failover":
            return self.stack.rebuild_standby()
        done = {}
        for service in self.stack.services(self.target):
            if self.kind == "pause":
                service.resume()
            elif not service.is_up():
                service.start()
            if not service.is_up():
                raise InfraError(f"{service.name} is not up after healing {self.kind}")
            done[service.name] = {"up": True}
        return done
