"""How a client call's HTTP outcome maps onto ok / fail / info (wallet contract v1)."""

from __future__ import annotations

from typing import Any

TRANSFER_DEFINITE = {400, 401, 403, 404, 409, 422, 423, 429, 503}
DEFINITE = {
    "balance": {400, 401, 403, 404, 503},
    "auth_probe": {400, 401, 403, 404, 503},
    "login": {400, 401, 423, 503},
    "attack": {400, 401, 423, 503},
}


def classify(f: str, status: int, body: dict[str, Any]) -> str:
    """ok / fail (definitely not applied) / info (unknown) from the HTTP outcome, per wallet contract v1."""
    if status in (200, 201):
        return "ok"
    if f in DEFINITE:
        return "fail" if status in DEFINITE[f] else "info"
    if status == 409 and body.get("error") == "idempotency_key_in_progress":
        return "info"  # this request did nothing, but the key's own outcome is still open
    return "fail" if status in TRANSFER_DEFINITE else "info"
