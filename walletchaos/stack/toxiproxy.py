"""The real Shopify Toxiproxy server (built from its Go module by the set-up) and a thin HTTP client.

Why not toxiproxy-python 0.1.1: it has no request timeouts, keeps host/port process-global, raises only
on 400/404/409 (other errors pass silently) and cannot update a toxic. The harness must bound every
call in time and fail loudly, so this client is ~60 lines of httpx instead.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import httpx

from ..errors import InfraError
from .proc import ManagedProcess, free_port, http_ok, wait_until

PROJECT_ROOT = Path(__file__).resolve().parents[2]
LOG_ENV = {"LOG_LEVEL": "warn"}
"""Toxiproxy logs every API call and connection at its default level (~740 KB for the 25 s smoke);
warnings and errors are what a reader of logs/toxiproxy.log needs."""


def server_binary() -> str:
    for candidate in (
        os.environ.get("WALLETCHAOS_TOXIPROXY"),
        str(PROJECT_ROOT / "tools/bin/toxiproxy-server"),
    ):
        if candidate and Path(candidate).is_file():
            return candidate
    found = shutil.which("toxiproxy-server")
    if found:
        return found
    raise InfraError("toxiproxy-server not found: run `make setup` (builds it from its Go module)")


def toxiproxy_version(client: ToxiproxyClient) -> str:
    """The server's own answer, or the pinned module version when it was built by `go install` ("git")."""
    import json

    try:
        reported = str(json.loads(client.version()).get("version"))
    except ValueError:
        reported = client.version()
    stamps = sorted((PROJECT_ROOT / "tools/bin").glob(".toxiproxy-v*"))
    return stamps[-1].name.removeprefix(".toxiproxy-") if reported == "git" and stamps else reported


class ToxiproxyClient:
    def __init__(self, url: str, timeout_s: float = 2.0) -> None:
        self.url = url
        self.http = httpx.Client(base_url=url, timeout=timeout_s)

    def close(self) -> None:
        self.http.close()

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        try:
            r = self.http.request(method, path, json=body)
        except httpx.HTTPError as exc:
            raise InfraError(f"toxiproxy {method} {path}: {exc.__class__.__name__}: {exc}") from exc
        if r.status_code >= 300:
            raise InfraError(f"toxiproxy {method} {path}: {r.status_code} {r.text.strip()[:300]}")
        return (
            r.json()
            if r.content and r.headers.get("content-type", "").startswith("application/json")
            else None
        )

    def version(self) -> str:
        try:
            return self.http.get("/version").text.strip()
        except httpx.HTTPError as exc:
            raise InfraError(f"toxiproxy GET /version: {exc}") from exc

    def create_proxy(self, name: str, listen: str, upstream: str) -> dict[str, Any]:
        body = {"name": name, "listen": listen, "upstream": upstream, "enabled": True}
        return self._call("POST", "/proxies", body)  # type: ignore[no-any-return]

    def proxy(self, name: str) -> dict[str, Any]:
        return self._call("GET", f"/proxies/{name}")  # type: ignore[no-any-return]

    def set_upstream(self, name: str, upstream: str) -> dict[str, Any]:
        """Point a proxy at another upstream (Toxiproxy restarts it: open connections are cut)."""
        return self._call("POST", f"/proxies/{name}", {"upstream": upstream})  # type: ignore[no-any-return]

    def set_enabled(self, name: str, enabled: bool) -> dict[str, Any]:
        return self._call("POST", f"/proxies/{name}", {"enabled": enabled})  # type: ignore[no-any-return]

    def add_toxic(
        self, proxy: str, name: str, kind: str, stream: str, attributes: dict[str, Any]
    ) -> dict[str, Any]:
        body = {"name": name, "type": kind, "stream": stream, "toxicity": 1.0, "attributes": attributes}
        return self._call("POST", f"/proxies/{proxy}/toxics", body)  # type: ignore[no-any-return]

    def toxics(self, proxy: str) -> list[dict[str, Any]]:
        return self._call("GET", f"/proxies/{proxy}/toxics")  # type: ignore[no-any-return]

    def remove_toxic(self, proxy: str, name: str) -> None:
        self._call("DELETE", f"/proxies/{proxy}/toxics/{name}")

    def reset(self) -> None:
        """Enable every proxy and remove every toxic (the final heal)."""
        self._call("POST", "/reset")


class ToxiproxyServer:
    def __init__(self, log_path: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        self.proc = ManagedProcess(
            "toxiproxy",
            [server_binary(), "-host", "127.0.0.1", "-port", str(self.port)],
            log_path,
            env=LOG_ENV,
        )
        self.client = ToxiproxyClient(f"http://127.0.0.1:{self.port}")

    def start(self) -> ToxiproxyClient:
        self.proc.start()
        wait_until(lambda: http_ok(f"{self.client.url}/version"), 10, "toxiproxy-server")
        return self.client

    def stop(self) -> None:
        self.client.close()
        self.proc.stop()
