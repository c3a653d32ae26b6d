"""Admin-side client for wallet contract v1 (account set-up, reconciliation, audit). Load traffic does not
use it: Locust's own HTTP client drives the user calls."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import IO, Any

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

    def ledger_to(self, out: IO[str] | None = None, batch: int = 10_000) -> tuple[int, str]:
        """Streams every posting, in the wallet's order, into ``out`` (one JSON line each; None: nowhere) and
        returns how many and the SHA-256 of the lines written: two reads agree when both agree, without
        holding either (a soak's ledger has millions of postings; as dicts they cost ~1 KB each). Each line
        must be JSON, checked a batch at a time (one C call per batch: 2x faster than one per line); a line
        that is not is named by its number."""
        digest, count, lines = hashlib.sha256(), 0, []

        def check(lines: list[str], first: int) -> None:
            try:
                json.loads("[" + ",".join(lines) + "]")
            except ValueError:
                for number, line in enumerate(lines, first):
                    try:
                        json.loads(line)
                    except ValueError as exc:
                        raise InfraError(f"GET /v1/audit/ledger: line {number} is not JSON: {exc}") from exc
                raise InfraError(
                    f"GET /v1/audit/ledger: lines {first}.. are not one JSON value each"
                ) from None
            for line in lines:
                digest.update(line.encode() + b"\n")
                if out is not None:
                    out.write(line + "\n")

        try:
            with self.http.stream("GET", "/v1/audit/ledger") as r:
                if r.status_code != 200:
                    said = r.read()[:300].decode(errors="replace")
                    raise InfraError(f"GET /v1/audit/ledger: expected 200, got {r.status_code} {said}")
                for line in r.iter_lines():
                    if line.strip():
                        lines.append(line)
                        if len(lines) == batch:
                            check(lines, count + 1)
                            count, lines = count + len(lines), []
                check(lines, count + 1)
        except httpx.HTTPError as exc:
            raise InfraError(f"GET {self.base_url}/v1/audit/ledger: {exc.__class__.__name__}: {exc}") from exc
        return count + len(lines), digest.hexdigest()

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
