"""Each defect of the catalog produces the anomaly it claims, and the same procedure without it does not."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from reference_wallet.defects import CATALOG
from tests.conftest import Wallet, create_database
from walletchaos.stack.proc import free_port

ON_OFF = pytest.mark.parametrize("on", [True, False], ids=["on", "off"])


def _audit_balances(wallet: Wallet, initial: dict[int, int]) -> tuple[dict[int, int], dict[int, int]]:
    stored = {a["id"]: a["balance"] for a in wallet.snapshot()["accounts"]}
    replay = dict(initial)
    for post in wallet.ledger():
        replay[post["account"]] += post["delta"]
    return stored, replay


def _token(client: httpx.Client) -> str:
    return str(client.headers["Authorization"]).split()[1]


def _concurrent(
    wallet: Wallet, jobs: list[tuple[str, str, int, int, int]], timeout_s: float = 10
) -> list[int]:
    """jobs: (token, key, src, dst, amount); returns status codes (599 for a transport error). One client for
    all: a client made per request costs 0.2-0.4 s under 16 threads, inside a timed request's time."""

    limits = httpx.Limits(max_connections=16)
    with httpx.Client(base_url=wallet.url, timeout=timeout_s, limits=limits) as http:

        def one(job: tuple[str, str, int, int, int]) -> int:
            token, key, src, dst, amount = job
            try:
                return http.post(
                    "/v1/transfers",
                    json={"from": src, "to": dst, "amount": amount, "currency": "CNY"},
                    headers={"Idempotency-Key": key, "Authorization": f"Bearer {token}"},
                ).status_code
            except httpx.HTTPError:
                return 599

        with ThreadPoolExecutor(16) as pool:
            return list(pool.map(one, jobs))


def test_catalog_documents_every_defect() -> None:
    assert set(CATALOG) >= {
        "lost_update",
        "double_apply",
        "non_atomic",
        "ack_before_commit",
        "stale_read",
        "no_db_timeouts",
        "crash_on_start",
    }
    assert all(d.breaks and d.shows_when and d.caught_by for d in CATALOG.values())


@ON_OFF
def test_lost_update_breaks_ledger_replay(wallet_factory, on) -> None:  # type: ignore[no-untyped-def]
    wallet = wallet_factory(("lost_update",) if on else (), risk_max_tps=0)
    users = [(f"u{i}", 10_000, "user") for i in range(12)]
    ids = wallet.accounts(*users, ("hot", 0, "merchant"))
    hot = ids[-1]
    tokens = [_token(wallet.login(f"u{i}")) for i in range(12)]
    jobs = [(tokens[i], f"k{i}-{n}", ids[i], hot, 7) for n in range(15) for i in range(12)]
    codes = _concurrent(wallet, jobs)
    assert Counter(codes)[201] > 100
    stored, replay = _audit_balances(wallet, {**dict.fromkeys(ids[:-1], 10_000), hot: 0})
    assert (stored != replay) is on
    assert (sum(stored.values()) != 120_000) is on


@ON_OFF
def test_double_apply_applies_a_resent_key_twice(wallet_factory, on) -> None:  # type: ignore[no-untyped-def]
    wallet = wallet_factory(("double_apply",) if on else ())
    a, m = wallet.accounts(("a", 1_000, "user"), ("m", 0, "merchant"))
    alice = wallet.login("a")
    assert [wallet.transfer(alice, "same", a, m, 10).status_code for _ in range(2)] == [201, 201]
    transfers = {p["transfer_id"] for p in wallet.ledger() if p["idempotency_key"] == "same"}
    assert len(transfers) == (2 if on else 1)


@ON_OFF
@pytest.mark.parametrize("defect", ["non_atomic", "ack_before_commit"])
def test_crash_in_the_gap_loses_money(pg, wallet_factory, defect, on) -> None:  # type: ignore[no-untyped-def]
    """Acknowledged or half-applied transfers vanish when the process dies between the steps."""
    dsn = create_database(pg)
    wallet = wallet_factory((defect,) if on else (), database_url=dsn, defect_gap_s=1.0, risk_max_tps=0)
    ids = wallet.accounts(*[(f"u{i}", 1_000, "user") for i in range(6)], ("m", 0, "merchant"))
    tokens = [_token(wallet.login(f"u{i}")) for i in range(6)]
    results: list[int] = []
    runner = threading.Thread(
        target=lambda: results.extend(
            _concurrent(wallet, [(tokens[i], f"k{i}", ids[i], ids[-1], 100) for i in range(6)])
        )
    )
    runner.start()
    time.sleep(0.5)
    wallet.proc.kill()
    runner.join()
    auditor = wallet_factory(database_url=dsn)
    stored, replay = _audit_balances(auditor, {**dict.fromkeys(ids[:-1], 1_000), ids[-1]: 0})
    total = sum(stored.values())
    if defect == "non_atomic":
        assert (total != 6_000) is on, (total, results)
    else:
        acked = [f"k{i}" for i, code in enumerate(results) if code == 201]
        applied = {p["idempotency_key"] for p in auditor.ledger()}
        assert bool(set(acked) - applied) is on, (acked, applied)
        assert total == 6_000
    if not on:
        assert stored == replay


@ON_OFF
def test_stale_read_serves_an_old_balance(wallet_factory, on) -> None:  # type: ignore[no-untyped-def]
    wallet = wallet_factory(("stale_read",) if on else ())
    a, m = wallet.accounts(("a", 1_000, "user"), ("m", 0, "merchant"))
    alice = wallet.login("a")
    assert alice.get(f"/v1/accounts/{a}").json()["balance"] == 1_000
    assert wallet.transfer(alice, "t", a, m, 250).status_code == 201
    assert (alice.get(f"/v1/accounts/{a}").json()["balance"] == 1_000) is on


@ON_OFF
def test_no_db_timeouts_hangs_instead_of_failing_fast(own_pg, wallet_factory, on) -> None:  # type: ignore[no-untyped-def]
    """A hung database: the correct wallet answers within its deadline. The transfer's one statement was
    already sent on a pooled connection when the server stopped, so it may still commit once the server
    resumes: the honest answer is 500 (outcome unknown), not a 503 that would claim nothing was applied."""
    wallet = wallet_factory(("no_db_timeouts",) if on else (), database_url=create_database(own_pg))
    a, m = wallet.accounts(("a", 1_000, "user"), ("m", 0, "merchant"))
    token = _token(wallet.login("a"))
    own_pg.pause()
    try:
        started = time.monotonic()
        codes = _concurrent(wallet, [(token, "p", a, m, 1)], timeout_s=3)
        elapsed = time.monotonic() - started
    finally:
        own_pg.resume()
    if on:
        assert codes == [599] and elapsed >= 3
    else:
        assert codes == [500] and elapsed < 1


@ON_OFF
def test_no_lockout_lets_guessing_go_on(wallet_factory, on) -> None:  # type: ignore[no-untyped-def]
    wallet = wallet_factory(("no_lockout",) if on else ())
    wallet.accounts(("victim", 10, "user"))
    codes = [
        wallet.anon.post("/v1/sessions", json={"username": "victim", "password": "guess"}).status_code
        for _ in range(7)
    ]
    assert codes[:5] == [401] * 5
    assert codes[5:] == ([401, 401] if on else [423, 423])


def test_crash_on_start_exits_nonzero(pg) -> None:  # type: ignore[no-untyped-def]
    argv = [
        sys.executable,
        "-m",
        "reference_wallet",
        "--port",
        str(free_port()),
        "--database-url",
        pg.dsn,
        "--defects",
        "crash_on_start",
    ]
    done = subprocess.run(
        argv, env={"WALLET_ADMIN_TOKEN": "t", "PATH": ""}, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 3 and "crash_on_start" in done.stderr


@ON_OFF
def test_audit_lies_hides_transfers_consistently_from_the_audit_only(wallet_factory, on) -> None:  # type: ignore[no-untyped-def]
    wallet = wallet_factory(("audit_lies",) if on else ())
    a, m = wallet.accounts(("a", 1_000, "user"), ("m", 0, "merchant"))
    alice = wallet.login("a")
    ids = [wallet.transfer(alice, f"k{i}", a, m, 1).json()["id"] for i in range(8)]
    assert any(i % 7 == 0 for i in ids)
    snap = {x["id"]: x["balance"] for x in wallet.snapshot()["accounts"]}
    ledger_sum = sum(p["delta"] for p in wallet.ledger() if p["account"] == a)
    assert snap[a] == 1_000 + ledger_sum  # the audit agrees with itself either way
    assert (snap[a] != alice.get(f"/v1/accounts/{a}").json()["balance"]) is on  # but not with the owner


@ON_OFF
def test_transient_overdraft_lets_a_balance_go_below_zero(wallet_factory, on) -> None:  # type: ignore[no-untyped-def]
    wallet = wallet_factory(("transient_overdraft",) if on else ())
    a, m = wallet.accounts(("a", 100, "user"), ("m", 0, "merchant"))
    r = wallet.transfer(wallet.login("a"), "over", a, m, 300)
    assert r.status_code == (201 if on else 422), r.text
    assert any(x["balance"] < 0 for x in wallet.snapshot()["accounts"]) is on


@ON_OFF
def test_lock_never_released_outlives_its_duration(wallet_factory, on) -> None:  # type: ignore[no-untyped-def]
    wallet = wallet_factory(("lock_never_released",) if on else (), lockout_duration_s=1)
    wallet.accounts(("victim", 10, "user"))
    for _ in range(5):
        wallet.anon.post("/v1/sessions", json={"username": "victim", "password": "guess"})
    time.sleep(1.5)
    r = wallet.anon.post("/v1/sessions", json={"username": "victim", "password": "pw-victim"})
    assert r.status_code == (423 if on else 201), r.text


@ON_OFF
def test_ack_without_apply_answers_201_for_nothing_when_the_database_is_slow(wallet_factory, on) -> None:  # type: ignore[no-untyped-def]
    wallet = wallet_factory(("ack_without_apply",) if on else (), slow_db_s=0.0)  # every transfer is "slow"
    a, m = wallet.accounts(("a", 1_000, "user"), ("m", 0, "merchant"))
    r = wallet.transfer(wallet.login("a"), "ghost", a, m, 10)
    assert r.status_code == 201
    assert (not any(p["idempotency_key"] == "ghost" for p in wallet.ledger())) is on


@ON_OFF
def test_over_refund_lets_refunds_exceed_the_payment(wallet_factory, on) -> None:  # type: ignore[no-untyped-def]
    wallet = wallet_factory(("over_refund",) if on else ())
    a, m = wallet.accounts(("a", 1_000, "user"), ("m", 50, "merchant"))  # funds for the extra refund
    paid = wallet.transfer(wallet.login("a"), "pay", a, m, 100).json()["id"]
    shop = wallet.login("m")
    assert wallet.transfer(shop, "r1", m, a, 100, refund_of=paid).status_code == 201
    r = wallet.transfer(shop, "r2", m, a, 1, refund_of=paid)
    assert r.status_code == (201 if on else 422), r.text


@ON_OFF
def test_accept_tampered_token_serves_an_altered_token(wallet_factory, on) -> None:  # type: ignore[no-untyped-def]
    from walletchaos.tokens import tampered

    wallet = wallet_factory(("accept_tampered_token",) if on else ())
    (a,) = wallet.accounts(("a", 1_000, "user"))
    token = wallet.login("a").headers["Authorization"].split()[1]
    r = wallet.client(tampered(token)).get(f"/v1/accounts/{a}")
    assert r.status_code == (200 if on else 401), r.text


@ON_OFF
def test_retry_wrong_amount_applies_a_retried_key_with_another_amount(wallet_factory, on) -> None:  # type: ignore[no-untyped-def]
    wallet = wallet_factory(("retry_wrong_amount",) if on else ())
    a, b, m = wallet.accounts(("a", 10, "user"), ("b", 1_000, "user"), ("m", 0, "merchant"))
    alice = wallet.login("a")
    assert wallet.transfer(alice, "k", a, m, 50).status_code == 422  # received, not applied
    assert wallet.transfer(wallet.login("b"), "top-up", b, a, 100).status_code == 201
    retry = wallet.transfer(alice, "k", a, m, 50)
    assert retry.status_code == 201
    legs = [p["delta"] for p in wallet.ledger() if p["idempotency_key"] == "k"]
    assert sorted(legs) == ([-51, 51] if on else [-50, 50])
    assert wallet.transfer(alice, "k", a, m, 50).json()["id"] == retry.json()["id"]  # replays still replay
