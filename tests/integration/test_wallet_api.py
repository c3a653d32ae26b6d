"""Auth, lockout, authorization, validation and the idempotency contract."""

from __future__ import annotations

import subprocess
import time
from datetime import datetime

import pytest

from reference_wallet.ledger import LEDGER_BATCH
from tests.conftest import Wallet, create_database


@pytest.fixture
def two(wallet: Wallet) -> tuple[Wallet, int, int]:
    a, m = wallet.accounts(("alice", 1_000, "user"), ("shop", 0, "merchant"))
    return wallet, a, m


def test_replay_returns_original_and_other_body_is_409(two) -> None:  # type: ignore[no-untyped-def]
    wallet, a, m = two
    alice = wallet.login("alice")
    first = wallet.transfer(alice, "k1", a, m, 100)
    assert first.status_code == 201 and first.json()["status"] == "committed"
    again = wallet.transfer(alice, "k1", a, m, 100)
    assert again.status_code == 201 and again.json() == first.json()
    other = wallet.transfer(alice, "k1", a, m, 99)
    assert other.status_code == 409 and other.json()["error"] == "idempotency_key_reused"
    assert wallet.admin.get("/v1/transfers/by-key/k1").json()["id"] == first.json()["id"]
    assert wallet.admin.get("/v1/transfers/by-key/nope").status_code == 404
    assert wallet.snapshot()["accounts"] == [{"id": a, "balance": 900}, {"id": m, "balance": 100}]


def test_only_the_owner_debits_or_reads(two) -> None:  # type: ignore[no-untyped-def]
    wallet, a, m = two
    shop = wallet.login("shop")
    r = wallet.transfer(shop, "steal", a, m, 10)
    assert r.status_code == 403 and r.json()["error"] == "not_owner"
    assert shop.get(f"/v1/accounts/{a}").status_code == 403
    assert wallet.anon.get(f"/v1/accounts/{a}").status_code == 401
    assert wallet.snapshot()["total"] == 1_000


def test_refunds_never_exceed_the_original(two) -> None:  # type: ignore[no-untyped-def]
    wallet, a, m = two
    paid = wallet.transfer(wallet.login("alice"), "pay", a, m, 300).json()
    shop = wallet.login("shop")
    assert wallet.transfer(shop, "r1", m, a, 200, refund_of=paid["id"]).status_code == 201
    over = wallet.transfer(shop, "r2", m, a, 101, refund_of=paid["id"])
    assert over.status_code == 422 and over.json()["error"] == "refund_exceeds_original"
    assert wallet.transfer(shop, "r3", m, a, 100, refund_of=paid["id"]).status_code == 201


def test_lockout_after_five_failures_and_recovery_after_the_window(wallet_factory) -> None:  # type: ignore[no-untyped-def]
    wallet = wallet_factory(lockout_window_s=30, lockout_duration_s=1.5)
    wallet.accounts(("bob", 10, "user"))
    bad = {"username": "bob", "password": "wrong"}
    codes = [wallet.anon.post("/v1/sessions", json=bad).status_code for _ in range(5)]
    assert codes == [401] * 5
    locked = wallet.anon.post("/v1/sessions", json={"username": "bob", "password": "pw-bob"})
    assert locked.status_code == 423 and locked.json()["retry_after"] >= 1
    time.sleep(1.6)
    assert wallet.anon.post("/v1/sessions", json={"username": "bob", "password": "pw-bob"}).status_code == 201
    unknown = wallet.anon.post("/v1/sessions", json={"username": "nobody", "password": "x"})
    assert unknown.status_code == 401 and unknown.json()["error"] == "invalid_credentials"


def test_tokens_expire_and_tampering_is_rejected(wallet_factory) -> None:  # type: ignore[no-untyped-def]
    wallet = wallet_factory(token_ttl_s=1)
    (a,) = wallet.accounts(("carol", 10, "user"))
    carol = wallet.login("carol")
    assert carol.get(f"/v1/accounts/{a}").status_code == 200
    token = carol.headers["Authorization"].split()[1]
    payload, sig = token.split(".")
    forged = wallet.client(payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1] + "." + sig)
    assert forged.get(f"/v1/accounts/{a}").status_code == 401
    time.sleep(2.1)
    r = carol.get(f"/v1/accounts/{a}")
    assert r.status_code == 401 and r.json()["error"] == "unauthorized"


@pytest.mark.parametrize(
    ("body", "key", "field"),
    [
        ({"amount": 0}, "v1", "amount"),
        ({"amount": -5}, "v2", "amount"),
        ({"amount": "5"}, "v3", "amount"),
        ({"amount": 1.5}, "v4", "amount"),
        ({"extra": 1}, "v6", "extra"),
        ({}, "x" * 65, "Idempotency-Key"),
    ],
)
def test_malformed_transfers_are_400_with_a_reason(two, body, key, field) -> None:  # type: ignore[no-untyped-def]
    wallet, a, m = two
    alice = wallet.login("alice")
    payload = {"from": a, "to": a if body.pop("self", False) else m, "amount": 1, "currency": "CNY", **body}
    r = alice.post("/v1/transfers", json=payload, headers={"Idempotency-Key": key})
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "invalid_request" and field in r.json()["detail"]
    assert wallet.snapshot()["total"] == 1_000


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"amount": 10**12}, "amount_too_large"),
        ({"currency": "USD"}, "currency_mismatch"),
        ({"self": True}, "same_account"),
    ],
)
def test_well_formed_transfers_the_rules_refuse_are_422_with_a_code(two, body, code) -> None:  # type: ignore[no-untyped-def]
    """Schema-valid requests that the wallet's rules refuse are 422 (a 400 would tell a schema-driven client
    its request was malformed when it was not)."""
    wallet, a, m = two
    alice = wallet.login("alice")
    payload = {"from": a, "to": a if body.pop("self", False) else m, "amount": 1, "currency": "CNY", **body}
    r = alice.post("/v1/transfers", json=payload, headers={"Idempotency-Key": "rule-" + code})
    assert r.status_code == 422, r.text
    assert r.json()["error"] == code
    assert wallet.snapshot()["total"] == 1_000


def test_bad_json_oversized_body_and_admin_token(two) -> None:  # type: ignore[no-untyped-def]
    wallet, _a, _m = two
    alice = wallet.login("alice")
    r = alice.post(
        "/v1/transfers",
        content=b"{nope",
        headers={"Idempotency-Key": "j", "content-type": "application/json"},
    )
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"
    r = alice.post(
        "/v1/transfers",
        content=b"x" * 20_000,
        headers={"Idempotency-Key": "j", "content-type": "application/json"},
    )
    assert r.status_code == 413
    assert alice.get("/v1/audit/snapshot").status_code == 401
    assert wallet.anon.post("/v1/admin/accounts", json={"accounts": []}).status_code == 401
    dup = wallet.admin.post(
        "/v1/admin/accounts", json={"accounts": [{"username": "alice", "password": "p", "balance": 1}]}
    )
    assert dup.status_code == 409 and dup.json()["error"] == "username_taken"


def test_risk_limits_answer_429(wallet_factory) -> None:  # type: ignore[no-untyped-def]
    wallet = wallet_factory(risk_max_tps=3, risk_max_per_transfer=500)
    a, m = wallet.accounts(("dave", 10_000, "user"), ("m", 0, "merchant"))
    dave = wallet.login("dave")
    big = wallet.transfer(dave, "big", a, m, 501)
    assert big.status_code == 429 and big.json()["rule"] == "per_transfer"
    codes = [wallet.transfer(dave, f"f{i}", a, m, 1).status_code for i in range(6)]
    assert codes[:3] == [201] * 3 and 429 in codes[3:]
    assert 'wallet_risk_limited_total{rule="frequency"}' in wallet.anon.get("/metrics").text


def test_openapi_and_version(wallet: Wallet) -> None:
    spec = wallet.anon.get("/openapi.json").json()
    assert "/v1/transfers" in spec["paths"] and "/v1/audit/ledger" in spec["paths"]
    assert wallet.anon.get("/version").json() == {"version": "1.0.0", "defects": []}


def test_the_ledger_streams_every_posting_in_order_across_batches(pg, wallet_factory) -> None:  # type: ignore[no-untyped-def]
    dsn = create_database(pg)
    wallet = wallet_factory(database_url=dsn)
    a, m = wallet.accounts(("a", 10**9, "user"), ("m", 0, "merchant"))
    assert wallet.transfer(wallet.login("a"), "first", a, m, 5).status_code == 201
    n = LEDGER_BATCH + 7  # more postings than one cursor batch, written straight into the database
    fill = f"""
    INSERT INTO transfers (idempotency_key, request_hash, from_id, to_id, amount, currency)
    SELECT 'bulk-' || i, 'h', {a}, {m}, 1, 'CNY' FROM generate_series(1, {n}) i;
    INSERT INTO ledger (transfer_id, idempotency_key, account_id, delta)
    SELECT t.id, t.idempotency_key, leg.account, leg.delta FROM transfers t,
           (VALUES ({a}, -1), ({m}, 1)) leg(account, delta)
    WHERE t.idempotency_key LIKE 'bulk-%' ORDER BY t.id, leg.delta"""
    subprocess.run(["psql", dsn, "-v", "ON_ERROR_STOP=1", "-qc", fill], check=True, capture_output=True)

    postings = wallet.ledger()
    assert len(postings) == 2 + 2 * n
    seqs = [p["seq"] for p in postings]
    assert seqs == sorted(set(seqs)), "seq increases, no posting twice"
    assert [(p["idempotency_key"], p["account"], p["delta"]) for p in postings[:2]] == [
        ("first", a, -5),
        ("first", m, 5),
    ]
    assert {p["idempotency_key"] for p in postings[2:]} == {f"bulk-{i}" for i in range(1, n + 1)}
    assert all(datetime.fromisoformat(p["created_at"]).tzinfo is not None for p in postings)


def test_the_log_says_version_and_defects_and_one_line_per_non_2xx(wallet_factory) -> None:  # type: ignore[no-untyped-def]
    wallet = wallet_factory(defects=("no_db_timeouts",))
    a, m = wallet.accounts(("alice", 1_000, "user"), ("shop", 0, "merchant"))
    alice = wallet.login("alice")
    assert wallet.transfer(alice, "ok-1", a, m, 5).status_code == 201
    assert wallet.transfer(alice, "too-much", a, m, 10_000).status_code == 422
    assert wallet.anon.get(f"/v1/accounts/{a}").status_code == 401
    assert wallet.anon.get("/nope%0aINJECTED").status_code == 404
    time.sleep(0.2)  # the wallet's stderr reaches its log file
    log = wallet.proc.log_path.read_text()
    assert "reference wallet " in log and "defects: no_db_timeouts" in log
    access = [line for line in log.splitlines() if " '/" in line and "'/readyz'" not in line]  # start-up 503s
    assert len(access) == 3, access
    assert "POST '/v1/transfers' 422" in access[0] and "insufficient_funds" in access[0], access[0]
    assert f"GET '/v1/accounts/{a}' 401" in access[1]
    assert "'/nope\\nINJECTED' 404" in access[2] and not any(
        line.startswith("INJECTED") for line in log.splitlines()
    )


def test_a_refused_transfer_keeps_its_pooled_connection(wallet, pg) -> None:  # type: ignore[no-untyped-def]
    """A refusal is an answer, not a broken connection: 422s must not cost a reconnect each (a soak whose
    users ran low on funds churned ~10 connections a second that way, and its p99 rose to 1.8 s)."""
    a, m = wallet.accounts(("alice", 10, "user"), ("shop", 0, "merchant"))
    alice = wallet.login("alice")
    assert wallet.transfer(alice, "fits", a, m, 5).status_code == 201
    database = wallet.proc.database_url.rsplit("/", 1)[1]
    query = (
        f"SELECT string_agg(pid::text, ',' ORDER BY pid) FROM pg_stat_activity WHERE datname = '{database}'"
    )
    before = set(pg.sql(query).split(","))
    for i in range(10):  # one at a time: one pooled connection serves them all
        r = wallet.transfer(alice, f"too-much-{i}", a, m, 1_000)
        assert r.status_code == 422 and r.json()["error"] == "insufficient_funds"
    after = set(pg.sql(query).split(","))
    assert after <= before, f"new backends for refusals: {sorted(after - before)}"
