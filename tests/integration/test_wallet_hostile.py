"""Requests any anonymous client can send that once gave 5xx, and leaks between accounts: each is now a
4xx in the contract's error shape ``{"error", "detail"}``."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import ADMIN


@pytest.fixture
def two(wallet):  # type: ignore[no-untyped-def]
    a, b = wallet.accounts(("alice", 1_000, "user"), ("bob", 1_000, "user"))
    return wallet, a, b


def shape(r: Any) -> str:
    body = r.json()
    assert set(body) >= {"error", "detail"}, body
    return str(body["error"])


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/v1/sessions", {"username": "a\x00b", "password": "x"}),
        ("POST", "/v1/admin/accounts", {"accounts": [{"username": "n\x00", "password": "p", "balance": 1}]}),
        (
            "POST",
            "/v1/admin/accounts",
            {"accounts": [{"username": "rich", "password": "p", "balance": 2**63}]},
        ),
        ("GET", "/v1/accounts/9223372036854775808", None),
        ("GET", "/v1/transfers/by-key/a%00b", None),
        ("POST", "/v1/nope", {}),
        ("DELETE", "/v1/transfers", None),
    ],
)
def test_hostile_requests_get_a_4xx_in_the_error_shape(two, method: str, path: str, body: Any) -> None:  # type: ignore[no-untyped-def]
    wallet, _, _ = two
    r = wallet.admin.request(method, path, json=body)
    assert 400 <= r.status_code < 500, (r.status_code, r.text)
    shape(r)
    assert wallet.admin.get("/healthz").status_code == 200  # the same keep-alive connection still works


def test_ids_at_or_above_2_63_in_a_transfer_are_400(two) -> None:  # type: ignore[no-untyped-def]
    wallet, a, _ = two
    alice = wallet.login("alice")
    for field in ("to", "refund_of"):
        body = {"from": a, "to": 2, "amount": 1, "currency": "CNY", field: 2**63}
        r = alice.post("/v1/transfers", json=body, headers={"Idempotency-Key": f"big-{field}"})
        assert r.status_code == 400 and shape(r) == "invalid_request", r.text


def test_idempotency_keys_are_scoped_per_account(two) -> None:  # type: ignore[no-untyped-def]
    wallet, a, b = two
    alice, bob = wallet.login("alice"), wallet.login("bob")
    first = wallet.transfer(alice, "shared", a, b, 10)
    assert first.status_code == 201
    mine = wallet.transfer(bob, "shared", b, a, 3)  # another user's key: neither blocked nor revealed
    assert mine.status_code == 201 and mine.json()["id"] != first.json()["id"], mine.text
    assert bob.get("/v1/transfers/by-key/shared").json()["id"] == mine.json()["id"]
    assert alice.get("/v1/transfers/by-key/shared").json()["id"] == first.json()["id"]
    assert wallet.snapshot()["total"] == 2_000


def test_a_token_whose_expiry_is_not_a_finite_integer_is_refused(two) -> None:  # type: ignore[no-untyped-def]
    """Signed with the wallet's own key (as a leaked or buggy issuer would): only the expiry is wrong."""
    from reference_wallet.auth import TokenSigner, _b64

    wallet, a, _ = two
    signer = TokenSigner(ADMIN, 3600)
    good = signer.issue(a)
    assert wallet.client(good).get(f"/v1/accounts/{a}").status_code == 200  # the forgery method works

    def forged(exp: Any) -> str:
        payload = _b64(json.dumps({"sub": a, "exp": exp, "n": "x"}).encode())
        return f"{payload}.{signer._sign(payload)}"

    for exp in (1e300, "Infinity", 9e99, float(2**40)):
        r = wallet.client(forged(exp)).get(f"/v1/accounts/{a}")
        assert r.status_code == 401, (exp, r.text)
