"""Admin-side client for wallet contract v1 (account set-up, reconciliation, audit). Load traffic does not
use it: Locust's own HTTP client drives the user calls."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx

from .errors import InfraError


@dataclass(frozen=True)
class AccountSpec:
    username: str
    password: str
    balance: int
    kind: str = "user"


class WalletAdmin:
    def __init__(self, base_url: str, admin_token: str, timeout_s: float = 30.0) -> None:
        self.base_url = base_url
        self.http = httpx.Client(
            base_url=base_url, timeout=timeout_s, headers={"Authorization": f"Bearer {admin_token}"}
        )

    def close(self) -> None:
        self.http.close()

    def _json(self, method: str, path: str, expect: int, **kw: Any) -> Any:
        try:
            r = self.http.request(method, path, **kw)
        except httpx.HTTPError as exc:
            raise InfraError(f"{method} {self.base_url}{path}: {exc.__class__.__name__}: {exc}") from exc
        if r.status_code != expect:
            raise InfraError(f"{method} {path}: expected {expect}, got {r.status_code} {r.text[:300]}")
        return r.json() if r.headers.get("content-type", "").startswith("application/json") else r.text

    def create_accounts(self, specs: list[AccountSpec], batch: int = 100) -> dict[str, int]:
        """Create accounts in batches; returns username -> id."""
        ids: dict[str, int] = {}
        for i in range(0, len(specs), batch):
            body = {"accounts": [vars(s) for s in specs[i : i + batch]]}
            for row in self._json("POST", "/v1/admin/accounts", 201, json=body)["accounts"]:
                ids[row["username"]] = row["id"]
        return ids

    def snapshot(self) -> dict[str, Any]:
        return self._json("GET", "/v1/audit/snapshot", 200)  # type: ignore[no-any-return]

    def ledger(self) -> list[dict[str, Any]]:
        """Every posting, in the wallet's order. Parsed as one JSON array (one C call instead of one per
        line: 2x faster at 100k postings); a line that is not JSON is named by its number."""
        lines = [
            line for line in str(self._json("GET", "/v1/audit/ledger", 200)).splitlines() if line.strip()
        ]
        try:
            return json.loads("[" + ",".join(lines) + "]")  # type: ignore[no-any-return]
        except ValueError:
            for number, line in enumerate(lines, 1):
                try:
                    json.loads(line)
                except ValueError as exc:
                    raise InfraError(f"GET /v1/audit/ledger: line {number} is not JSON: {exc}") from exc
            raise

    def by_key(self, key: str) -> dict[str, Any] | None:
        """The transfer applied under ``key``, or None when the wallet says it never was (404)."""
        r = self.http.get(f"/v1/transfers/by-key/{key}")
        if r.status_code == 404:
            return None
        if r.status_code != 200:
            raise InfraError(f"GET by-key/{key}: {r.status_code} {r.text[:200]}")
        return r.json()  # type: ignore[no-any-return]

    def version(self) -> dict[str, Any]:
        return self._json("GET", "/version", 200)  # type: ignore[no-any-return]
