"""Judge v2 on hand-built histories: for each bug class, a history the first judge called VALID that the
new one fails with the right check, next to its correct twin that passes."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.unit.builders import MS, Book, scenario
from walletchaos import judge
from walletchaos.judge.model import Result


def verdict(book: Book, audit: dict[str, Any] | None = None, **scn: Any) -> judge.Verdict:
    return judge.check(scenario(**scn), book.records(), audit if audit is not None else book.audit())


def result(v: judge.Verdict, name: str) -> Result:
    return next(r for r in v.results if r.name == name)


def uuid_book() -> Book:
    """Accounts and transfers with UUID ids, as a wallet written elsewhere has them."""
    a, b, m = (str(uuid.UUID(int=i)) for i in (1, 2, 3))
    book = Book({a: 1_000, b: 1_000, m: 0})
    book.tid = iter(str(uuid.UUID(int=100 + i)) for i in range(10_000))  # type: ignore[assignment]
    book.transfer("k1", a, m, 100)
    book.transfer("k2", b, m, 50)
    book.transfer("k3", a, b, 10, kind="fail", status=422)
    book.transfer("k4", b, a, 5, kind="info", status=0, applied=True)
    book.read(a)
    return book


def test_uuid_ids_judge_valid_and_catch_a_double_apply() -> None:
    v = verdict(uuid_book())
    assert v.valid is True, [(r.name, r.summary) for r in v.results if r.valid is not True and r.counted]
    book = uuid_book()
    a, m = next(iter(book.balances)), list(book.balances)[2]
    book.transfer("dup", a, m, 9, kind="info", status=0, applied=True)
    book.transfer("dup", a, m, 9)
    v = verdict(book)
    assert result(v, "exactly_once").valid is False and v.valid is False


def test_an_unknown_transfer_applied_with_another_amount_is_caught() -> None:
    book = uuid_book()
    a, b = list(book.balances)[:2]
    book.transfer("odd", a, b, 70, kind="info", status=0, applied=False)
    book.post("odd", a, b, 700)  # the wallet applied 700 for a request of 70
    r = result(verdict(book), "applied_as_requested")
    assert r.valid is False and r.first and r.first["key"] == "odd"
    twin = uuid_book()
    twin.transfer("odd", a, b, 70, kind="info", status=0, applied=True)
    assert result(verdict(twin), "applied_as_requested").valid is True


def test_an_unknown_transfer_applied_to_another_payee_is_caught() -> None:
    book = uuid_book()
    a, b, m = list(book.balances)
    book.transfer("moved", a, b, 70, kind="info", status=0, applied=False)
    book.post("moved", a, m, 70)
    assert result(verdict(book), "applied_as_requested").valid is False


def test_a_double_apply_under_one_transfer_id_is_caught() -> None:
    book = uuid_book()
    a, b = list(book.balances)[:2]
    book.transfer("twice", a, b, 30, kind="info", status=0, applied=False)
    book.post("twice", a, b, 30, transfer="T-1")
    book.post("twice", a, b, 30, transfer="T-1")  # four postings under one id
    v = verdict(book)
    assert result(v, "applied_as_requested").valid is False
    assert result(v, "exactly_once").valid is True  # one transfer id: the old check could not see it


def _done(book: Book, key: str) -> dict[str, Any]:
    invoke = next(r for r in book.history if r["type"] == "invoke" and r["value"].get("key") == key)
    return next(
        r
        for r in book.history
        if r["type"] != "invoke" and r["op"] == invoke["op"] and r["process"] == invoke["process"]
    )


def test_a_201_whose_id_is_not_the_ledgers_transfer_is_caught() -> None:
    book = uuid_book()
    _done(book, "k1")["value"]["id"] = "someone-else"
    r = result(verdict(book), "answers_match_ledger")
    assert r.valid is False and r.first and r.first["problem"].startswith("201 id")


def test_a_201_body_that_differs_from_the_request_is_caught() -> None:
    book = uuid_book()
    _done(book, "k2")["value"]["response"]["amount"] = 5_000
    assert result(verdict(book), "answers_match_ledger").valid is False


def test_replays_must_answer_the_same_transfer() -> None:
    book = uuid_book()
    a, _, m = list(book.balances)
    book.transfer("again", a, m, 3)
    book.transfer("again", a, m, 3, replay=True)
    assert result(verdict(book), "answers_match_ledger").valid is True
    _done(book, "again")  # the first call; now make the replay answer another id
    replay = [r for r in book.history if r["type"] == "ok" and r.get("value", {}).get("id") is not None][-1]
    replay["value"]["id"] = "other"
    assert result(verdict(book), "answers_match_ledger").valid is False


def test_an_acknowledged_key_later_refused_is_caught_but_after_unknowns_only_ambiguous() -> None:
    book = uuid_book()
    a, _, m = list(book.balances)
    book.transfer("acked", a, m, 3)
    book.transfer("acked", a, m, 3, kind="fail", status=409)
    r = result(verdict(book), "answers_match_ledger")
    assert r.valid is False and r.first and r.first["problem"] == "acknowledged key later refused"
    twin = uuid_book()
    twin.transfer("maybe", a, m, 3, kind="info", status=0, applied=False)
    twin.transfer("maybe", a, m, 3, kind="fail", status=422)
    r = result(verdict(twin), "answers_match_ledger")
    assert r.valid is True and r.details["ambiguous"] == 1


def test_a_by_key_answer_that_differs_from_the_request_is_caught() -> None:
    book = uuid_book()
    a, _, m = list(book.balances)
    book.transfer("lost", a, m, 8, kind="info", status=0, applied=True)
    tid = book.applied["lost"]
    good = {"id": tid, "from": a, "to": m, "amount": 8}
    assert result(verdict(book, book.audit(resolutions={"lost": good})), "answers_match_ledger").valid
    bad = {**good, "amount": 80}
    v = verdict(book, book.audit(resolutions={"lost": bad}))
    assert result(v, "answers_match_ledger").valid is False


def test_an_audit_that_moved_between_ledger_reads_is_unknown_not_invalid() -> None:
    book = uuid_book()
    v = verdict(book, book.audit(ledger_stable=False, ledger_unstable_reason="late commit"))
    r = result(v, "audit_consistent")
    assert r.valid is None and "late commit" in r.summary and v.valid is None


def test_a_snapshot_whose_total_is_not_its_sum_or_misses_an_account_is_caught() -> None:
    book = uuid_book()
    audit = book.audit()
    audit["snapshot"]["total"] += 1
    assert result(verdict(book, audit), "audit_consistent").valid is False
    audit = book.audit()
    audit["snapshot"]["accounts"] = audit["snapshot"]["accounts"][1:]
    r = result(verdict(book, audit), "audit_consistent")
    assert r.valid is False and any("missing_accounts" in o for o in r.details["offenders"])


def _snapshot_op(book: Book, balances: dict[Any, int], total: int | None = None) -> None:
    t = book.tick()
    value = {"total": sum(balances.values()) if total is None else total, "sum": sum(balances.values())}
    value["balances"] = {str(a): b for a, b in balances.items()}
    book.history.append(
        {"process": "auditor", "op": 0, "type": "invoke", "f": "snapshot", "time": t, "value": {}}
    )
    book.history.append(
        {"process": "auditor", "op": 0, "type": "ok", "f": "snapshot", "time": t + MS, "value": value}
    )


def test_a_stale_snapshot_total_during_the_load_is_caught() -> None:
    book = uuid_book()
    _snapshot_op(book, dict(book.balances))
    assert result(verdict(book), "audit_consistent").valid is True
    stale = uuid_book()
    a = next(iter(stale.balances))
    _snapshot_op(stale, {**stale.balances, a: stale.balances[a] + 100})  # money appears mid-run
    r = result(verdict(stale), "audit_consistent")
    assert r.valid is False and r.first and r.first["snapshot"] == "during load"


def test_an_audit_that_lies_consistently_is_caught_by_what_owners_see() -> None:
    book = uuid_book()
    a, _, m = list(book.balances)
    book.transfer("hidden", a, m, 40, applied=False)  # acknowledged, then silently dropped...
    audit = book.audit()  # ...and the audit agrees with itself (ledger, snapshot, total)
    audit["owner_reads"][a] = {"balance": book.balances[a] - 40}  # but the owner saw the debit
    v = verdict(book, audit)
    assert result(v, "users_see_audit").valid is False
    assert result(v, "conservation").valid is True and result(v, "balances_match_ledger").valid is True


def test_a_transient_overdraft_in_ledger_order_is_caught() -> None:
    book = Book({1: 10, 2: 0, 3: 0})
    book.transfer("over", 1, 2, 50)  # 10 - 50 = -40 for a moment
    book.transfer("topup", 3, 1, 0)
    book.post("fill", 2, 1, 40)  # made whole later; the final snapshot looks fine
    book.transfer("fill", 2, 1, 40, applied=False, replay=True)
    v = verdict(book)
    r = result(v, "no_negative_balances")
    assert r.valid is False and r.first and r.first.get("replay") is True
    over = next(p for p in book.ledger if p["idempotency_key"] == "over" and p["account"] == 1)
    assert r.first["seq"] == over["seq"] and r.first["balance"] == -40  # the first posting below zero
    twin = Book({1: 100, 2: 0, 3: 0})
    twin.transfer("fine", 1, 2, 50)
    assert result(verdict(twin), "no_negative_balances").valid is True


def test_an_unknown_legitimate_login_may_have_reset_the_count() -> None:
    book = uuid_book()
    a = next(iter(book.balances))
    book.login(a, 0, legit=True)  # type: ignore[arg-type]
    book.history[-1]["type"] = "info"  # 500 commit_unknown: it may have reset the count at any time
    for _ in range(5):
        book.login(a, 401)  # type: ignore[arg-type]
    book.login(a, 201, legit=True)  # type: ignore[arg-type]
    assert result(verdict(book, wallet={"settings": {"lockout_duration_s": 3}}), "lockout").valid is True


def test_a_423_without_failures_and_a_lock_that_outlives_its_duration_are_caught() -> None:
    book = uuid_book()
    a = next(iter(book.balances))
    book.login(a, 423, legit=True, retry_after=3)  # type: ignore[arg-type]
    r = result(verdict(book, wallet={"settings": {"lockout_duration_s": 3}}), "lockout")
    assert r.valid is False and r.first and r.first["problem"] == "423 with no failed login before it"
    stuck = uuid_book()
    for _ in range(5):
        stuck.login(a, 401)  # type: ignore[arg-type]
    stuck.login(a, 423, legit=True, retry_after=3)  # type: ignore[arg-type]
    assert result(verdict(stuck, wallet={"settings": {"lockout_duration_s": 3}}), "lockout").valid is True
    stuck.tick(10_000)
    stuck.login(a, 423, legit=True, retry_after=3)  # type: ignore[arg-type]
    r = result(verdict(stuck, wallet={"settings": {"lockout_duration_s": 3}}), "lockout")
    assert r.valid is False and r.last and r.last["problem"] == "lock outlived its duration"


def test_a_401_to_a_users_own_session_counts_as_unavailable() -> None:
    book = uuid_book()
    a = next(iter(book.balances))
    for _ in range(10):
        book._op(1, "balance", {"account": a, "as": a}, "fail", 401)
    v = verdict(book, slo={"error_rate": 0.05})
    assert result(v, "slo: error rate").valid is False


def test_a_check_nothing_exercised_is_never_a_confident_pass() -> None:
    book = uuid_book()  # no login at all
    v = verdict(book)
    r = result(v, "lockout")
    assert r.valid is None and r.word == "not exercised" and not r.counted and v.valid is True
    v = verdict(book, invariants=["conservation", "lockout"])  # asked for by name: unknown
    assert result(v, "lockout").counted and v.valid is None


def _fault_book(during: str) -> Book:
    book = Book({1: 10_000, 2: 0})
    for i in range(50):
        book.transfer(f"before{i}", 1, 2, 1, duration_ms=5)
    start = book.clock // MS
    step_ms = (2_000 if during == "hang" else 5) + 10  # each op: the builder's 10 ms tick + its duration
    book.fault("network.latency", "db", start, start + 50 * step_ms + 10)
    for i in range(50):
        if during == "hang":
            book.transfer(f"in{i}", 1, 2, 1, kind="info", status=0, duration_ms=2_000)
        elif during == "fast503":
            book.transfer(f"in{i}", 1, 2, 1, kind="fail", status=503, duration_ms=5)
        else:
            book.transfer(f"in{i}", 1, 2, 1, duration_ms=5)
    for i in range(200):
        book.transfer(f"after{i}", 1, 2, 1, duration_ms=5)
    return book


def test_a_fault_with_no_observed_effect_is_inconclusive() -> None:
    v = verdict(_fault_book("nothing"))
    r = result(v, "recovery: network.latency on db")
    assert r.valid is None and r.summary.startswith("inconclusive") and v.exit_code == 2
    assert result(verdict(_fault_book("fast503")), "recovery: network.latency on db").valid is True


def test_a_wallet_that_hangs_while_its_database_is_gone_fails_fast_check() -> None:
    r = result(verdict(_fault_book("hang")), "fail fast: network.latency on db")
    assert r.valid is False and r.details["unknown"] == 50
    assert result(verdict(_fault_book("fast503")), "fail fast: network.latency on db").valid is True


def test_a_failed_rollout_is_a_violation() -> None:
    book = _fault_book("fast503")
    apply_done = next(r for r in book.history if r["process"] == "nemesis" and r["type"] == "ok")
    apply_done["value"] = {
        **apply_done["value"],
        "fault": "deploy",
        "result": {"rolled_out": [], "failed": [{"replica": "wallet0", "error": "exited"}]},
    }
    for r in book.history:
        if r["process"] == "nemesis":
            r["value"] = {**r["value"], "fault": "deploy", "target": "wallet"}
    v = verdict(book)
    r = result(v, "deploy rollout: deploy on wallet")
    assert r.valid is False and r.first and r.first["replica"] == "wallet0" and v.valid is False


def _load_exit(book: Book, clean: bool) -> None:
    t = book.tick()
    base = {"process": "harness", "op": 1, "f": "load_exit", "time": t}
    value = {"returncode": 0 if clean else -9, "clean": clean}
    book.history += [{**base, "type": "invoke", "value": {}}, {**base, "type": "ok", "value": value}]


def test_a_phantom_is_unknown_only_when_the_load_process_did_not_end_cleanly() -> None:
    book = uuid_book()
    a, b = list(book.balances)[:2]
    book.post("unseen", a, b, 1)
    _load_exit(book, clean=True)
    assert result(verdict(book), "no_phantoms").valid is False
    killed = uuid_book()
    killed.post("unseen", a, b, 1)
    _load_exit(killed, clean=False)
    r = result(verdict(killed), "no_phantoms")
    assert r.valid is None and "did not end cleanly" in r.summary


def test_a_history_cut_mid_line_reads_up_to_its_last_whole_record(tmp_path: Any) -> None:
    from walletchaos import history

    path = tmp_path / "client-history.jsonl"
    records = uuid_book().records()
    history.write(path, records)
    with open(path, "a") as f:
        f.write('{"process": 3, "op": 9, "type": "inv')  # the writer was killed here
    assert list(history.read(path)) == records
    path.write_text('{"broken\n' + path.read_text())
    with pytest.raises(history.HistoryError, match=r"client-history.jsonl:1: not JSON"):
        history.read(path)  # a broken line before the end is never skipped silently
    lines = path.read_text().splitlines(keepends=True)
    path.write_text(
        "".join([lines[1], "\n", lines[2].replace('"time":', '"time":"soon","was":'), *lines[3:]])
    )
    with pytest.raises(history.HistoryError, match=r"client-history.jsonl:3: time"):
        history.read(path)  # the file's own line number, blank lines included


def test_a_nemesis_that_fails_internally_makes_the_run_unknown_never_valid() -> None:
    import time as _time

    from walletchaos.live import LiveState
    from walletchaos.nemesis import Nemesis
    from walletchaos.plan import FaultAction, Plan

    plan = Plan(1, 1.0, (FaultAction(0, "network.nosuch", "db", {}, 0.0, 0.1),), (("p", 0.0, 1.0),))
    nemesis = Nemesis(None, plan, _time.monotonic_ns(), LiveState(1.0, "t"))  # type: ignore[arg-type]
    nemesis._run(0)
    crash = [r for r in nemesis.records if r["f"] == "crash" and r["type"] == "info"]
    assert crash and "network.nosuch" in crash[0]["error"]
    book = uuid_book()
    book.history += nemesis.records
    v = verdict(book, faults=[{"at": "1s", "for": "1s", "fault": "network.latency", "target": "db"}])
    r = result(v, "faults_applied")
    assert r.valid is None and "scheduler failed" in r.summary and v.valid is None


def test_a_planned_fault_that_was_never_applied_is_unknown() -> None:
    v = verdict(uuid_book(), faults=[{"at": "1s", "for": "1s", "fault": "network.latency", "target": "db"}])
    assert result(v, "faults_applied").valid is None and v.exit_code == 2


def _probe(book: Book, kind: str, status: int, account: Any, caller: Any = None) -> None:
    outcome = "ok" if status == 200 else "fail"
    value = {"probe": kind, "account": account, "as": account if caller is None else caller}
    book._op(1, "auth_probe", value, outcome, status)


def test_a_tampered_missing_or_foreign_session_served_is_caught() -> None:
    book = uuid_book()
    a, b, _ = list(book.balances)
    for kind in ("tampered", "missing"):
        _probe(book, kind, 401, a)
    _probe(book, "foreign", 403, b, caller=a)
    _probe(book, "foreign", 200, a, caller=a)  # one's own account: a legitimate read, not a foreign one
    assert result(verdict(book), "sessions_enforced").valid is True
    foreign = uuid_book()
    _probe(foreign, "foreign", 200, b, caller=a)
    assert result(verdict(foreign), "sessions_enforced").valid is False
    _probe(book, "tampered", 200, a)
    r = result(verdict(book), "sessions_enforced")
    assert r.valid is False and r.first and r.first["probe"] == "tampered"


def _refund(book: Book, key: str, payment: Any, src: Any, dst: Any, amount: int, applied: bool) -> None:
    book.transfer(
        key, src, dst, amount, f="refund", kind="ok" if applied else "fail", status=201 if applied else 422
    )
    book.history[-2]["value"]["refund_of"] = payment


def test_refunds_beyond_the_payment_or_between_wrong_accounts_are_caught() -> None:
    book = uuid_book()
    a, _, m = list(book.balances)
    payment = book.applied["k1"]  # a paid m 100
    _refund(book, "r1", payment, m, a, 60, applied=True)
    _refund(book, "r2", payment, m, a, 60, applied=False)  # refused: would exceed
    assert result(verdict(book), "refunds_bounded").valid is True
    _refund(book, "r3", payment, m, a, 50, applied=True)  # 60 + 50 > 100
    r = result(verdict(book), "refunds_bounded")
    assert r.valid is False and r.first and r.first["problem"] == "refunds exceed the payment"
    wrong = uuid_book()
    _refund(wrong, "rw", wrong.applied["k1"], m, list(wrong.balances)[1], 10, applied=True)
    assert result(verdict(wrong), "refunds_bounded").valid is False


def test_the_same_key_with_another_body_must_not_be_answered_201() -> None:
    book = uuid_book()
    a, _, m = list(book.balances)
    book.transfer("k1", a, m, 101, kind="fail", status=409)  # another body under k1: refused, as it must be
    book.history[-2]["value"]["probe"] = "other_body"
    assert result(verdict(book), "answers_match_ledger").valid is True
    book.transfer("k1", a, m, 101, replay=True)
    book.history[-2]["value"]["probe"] = "other_body"
    r = result(verdict(book), "answers_match_ledger")
    assert r.valid is False and any(
        o["problem"].startswith("same key with another body") for o in r.details["offenders"]
    )


def test_a_balance_mismatch_names_the_transfer_that_explains_it() -> None:
    book = uuid_book()
    a, _, m = list(book.balances)
    book.transfer("k-17", a, m, 2500 % 1000 + 7, kind="fail", status=503, applied=False)
    snap = dict(book.balances)
    snap[m] += 507  # the wallet credited m anyway, without a ledger entry
    snap[a] -= 507
    v = verdict(book, book.audit(snap))
    r = result(v, "balances_match_ledger")
    worst = next(o for o in r.details["offenders"] if o["account"] == m)
    assert worst["explained_by"] == [
        f"key k-17 answered 503 (not in the ledger); its 507 is in {m}'s credits"
    ]


def test_refusals_the_history_proves_wrong_are_caught() -> None:
    book = uuid_book()
    a, b, m = list(book.balances)
    book.transfer("fine", a, m, 10**6, kind="fail", status=422)  # really insufficient
    book.history[-1]["error"] = "insufficient_funds"
    v = verdict(book)
    assert result(v, "no_wrong_refusals").valid is True
    book.transfer("lied", a, m, 5, kind="fail", status=422)  # a has 900: it covered 5
    book.history[-1]["error"] = "insufficient_funds"
    book.transfer("lost", b, m, 1, kind="fail", status=404)
    book.history[-1]["error"] = "unknown_account"
    book._op(1, "balance", {"account": a, "as": a}, "fail", 401)
    r = result(verdict(book), "no_wrong_refusals")
    problems = sorted(o["problem"] for o in r.details["offenders"])
    assert r.valid is False and problems == [
        "401 to the user's own session",
        "404 for accounts that exist",
        "422 insufficient_funds but the balance covered it",
    ]


def test_a_422_during_concurrent_debits_is_not_blamed() -> None:
    book = Book({1: 100, 2: 0})
    book.history.append(  # a debit of 95 in flight (not yet acknowledged) when the refusal is decided
        {
            "process": 9,
            "op": 900,
            "type": "invoke",
            "f": "pay",
            "time": book.tick(),
            "value": {"key": "big", "from": 1, "to": 2, "amount": 95, "as": 1},
        }
    )
    book.post("big", 1, 2, 95)
    book.transfer("small", 1, 2, 10, kind="fail", status=422)
    book.history[-1]["error"] = "insufficient_funds"
    book.history.append(
        {
            "process": 9,
            "op": 900,
            "type": "ok",
            "f": "pay",
            "time": book.tick(),
            "status": 201,
            "value": {"id": book.applied.get("big", 1)},
        }
    )
    assert result(verdict(book), "no_wrong_refusals").valid is True


def test_a_read_that_misses_an_acknowledged_credit_or_shows_the_future_is_caught() -> None:
    book = Book({1: 100, 2: 100})
    book.transfer("in", 2, 1, 30)  # acknowledged credit to 1
    book.read(1)  # 130: fine
    assert result(verdict(book), "reads_in_order").valid is True
    book.read(1, balance=100)  # misses the acknowledged credit
    r = result(verdict(book), "reads_in_order")
    assert r.valid is False and r.first and r.first["possible"] == [130, 130]
    future = Book({1: 100, 2: 100})
    future.read(1, balance=90)  # shows a debit sent only after the read ended
    future.transfer("later", 1, 2, 10)
    assert result(verdict(future), "reads_in_order").valid is False


def test_a_read_at_the_very_time_of_an_acknowledgement_or_a_send_may_see_either_side() -> None:
    """The bounds are strict: a transfer acknowledged exactly when a read began need not be in it, and one
    first sent exactly when a read ended may be."""
    book = Book({1: 100, 2: 100})
    book.transfer("in", 2, 1, 30)
    book.tick(-10)  # the read starts at the credit's acknowledgement
    book.read(1, balance=100)
    assert result(verdict(book), "reads_in_order").valid is True
    future = Book({1: 100, 2: 100})
    future.read(1, balance=90)
    future.tick(-10)  # the debit is sent as the read ends
    future.transfer("later", 1, 2, 10)
    assert result(verdict(future), "reads_in_order").valid is True


def shared_wallet_audit(book: Book, leak: int = 0) -> dict[str, Any]:
    """The audit of a long-lived wallet: another run's accounts and postings (same keys, even) sit beside
    this run's. ``leak`` moves that much from this run's first account to another run's account."""
    audit = book.audit()
    theirs = {"x1": 5_000, "x2": 7}
    if leak:
        mine = next(iter(book.balances))
        audit["snapshot"]["accounts"] = [
            {**a, "balance": a["balance"] - leak} if a["id"] == mine else a
            for a in audit["snapshot"]["accounts"]
        ]
        audit["ledger"].append(
            {"seq": 900, "transfer_id": "leak", "idempotency_key": "k1", "account": mine, "delta": -leak}
        )
        theirs["x2"] += leak
    audit["snapshot"]["accounts"] += [{"id": a, "balance": b} for a, b in theirs.items()]
    audit["snapshot"]["total"] = sum(a["balance"] for a in audit["snapshot"]["accounts"])
    for n, (src, dst) in enumerate([("x1", "x2"), ("x2", "x1")]):
        for account, delta in ((src, -3), (dst, 3)):
            audit["ledger"].append(
                {
                    "seq": 1000 + n,
                    "transfer_id": f"other-{n}",
                    "idempotency_key": f"k{n + 1}",
                    "account": account,
                    "delta": delta,
                }
            )
    return audit


def test_other_runs_on_a_shared_wallet_are_ignored_but_a_leak_to_them_is_caught() -> None:
    v = verdict(uuid_book(), shared_wallet_audit(uuid_book()))
    assert v.valid is True, [(r.name, r.summary) for r in v.results if r.valid is not True and r.counted]
    leaked = verdict(uuid_book(), shared_wallet_audit(uuid_book(), leak=40))
    assert leaked.valid is False
    assert result(leaked, "conservation").valid is False


def test_each_fault_reports_how_many_of_its_unknown_transfers_were_applied() -> None:
    book = Book({"a": 1_000, "m": 0})
    book.fault("network.latency", "db", 0, 200)
    book.transfer("k1", "a", "m", 5, kind="info", status=0, applied=True)
    book.transfer("k2", "a", "m", 6, kind="info", status=0, applied=False)
    book.transfer("k3", "a", "m", 7, kind="info", status=0, applied=True)
    book.transfer("k4", "a", "m", 8)
    recovery = result(verdict(book), "recovery: network.latency on db")
    assert (recovery.details["unknown_transfers"], recovery.details["unknown_applied"]) == (3, 2)


def test_a_refund_of_a_refund_is_bounded_by_that_refund() -> None:
    def book(back: int) -> Book:
        b = Book({"u": 1_000, "m": 0})
        b.transfer("pay", "u", "m", 100)  # transfer id 1
        b.transfer("ref", "m", "u", 50, f="refund", refund_of=1)  # transfer id 2
        b.transfer("back", "u", "m", back, f="refund", refund_of=2)
        return b

    assert result(verdict(book(50)), "refunds_bounded").valid is True
    over = result(verdict(book(60)), "refunds_bounded")
    assert over.valid is False and over.count == 1


def test_a_client_whose_reads_go_back_in_the_ledger_order_is_caught() -> None:
    def book(first: int, second: int) -> Book:
        b = Book({"a": 1_000, "b": 1_000})
        b.transfer("k1", "b", "a", 100, kind="info", status=0, applied=True)  # in flight for every read
        b.read("a", balance=first)
        b.read("a", balance=second)
        return b

    assert result(verdict(book(1_000, 1_100)), "reads_in_order").valid is True
    back = result(verdict(book(1_100, 1_000)), "reads_in_order")  # each read alone is possible
    assert back.valid is False and back.count == 1
    other_client = book(1_100, 1_000)
    other_client.history[-2]["process"] = other_client.history[-1]["process"] = 2  # not the same session
    assert result(verdict(other_client), "reads_in_order").valid is True


def test_a_read_matching_several_positions_goes_back_only_behind_all_of_them() -> None:
    """The account goes 1000 -> 1100 -> 1000 while every read runs: a read of 1000 after one of 1100 matches
    position 2 (not going back), and a later 1100 matches only position 1, behind it."""

    def book(*reads: int) -> Book:
        b = Book({"a": 1_000, "b": 1_000})
        b.transfer("k1", "b", "a", 100, kind="info", status=0, applied=True)  # in flight for every read
        b.transfer("k2", "a", "b", 100, kind="info", status=0, applied=True)
        for balance in reads:
            b.read("a", balance=balance)
        return b

    assert result(verdict(book(1_100, 1_000)), "reads_in_order").valid is True
    back = result(verdict(book(1_100, 1_000, 1_100)), "reads_in_order")
    assert back.valid is False and back.count == 1
    assert back.first is not None and back.first["problem"] == "went back"


def test_a_run_whose_load_made_no_op_or_failed_is_unknown_never_valid() -> None:
    v = verdict(Book({1: 100, 2: 0}))
    r = result(v, "load ran")
    assert r.valid is None and "nothing was tested" in r.summary and v.valid is None
    failed = uuid_book()
    t = failed.tick()
    base = {"process": "harness", "op": 1, "f": "load_exit", "time": t}
    value = {"returncode": 3, "clean": False}
    failed.history += [{**base, "type": "invoke", "value": {}}, {**base, "type": "ok", "value": value}]
    r = result(verdict(failed), "load ran")
    assert r.valid is None and "exited with code 3" in r.summary
    fine = uuid_book()
    _load_exit(fine, clean=True)
    r = result(verdict(fine), "load ran")
    assert r.valid is True and r.exercised == 5


def test_a_read_that_came_back_without_a_balance_is_no_read_for_the_checks() -> None:
    """Seen in CI: a 200 to a balance read whose body was cut off (its replica killed mid-answer) was
    recorded as ok with balance None, and read_your_writes and reads_in_order crashed on int(None)."""
    book = uuid_book()
    a = next(iter(book.balances))
    book._op(1, "balance", {"account": a, "as": a}, "ok", 200, {"balance": None})
    v = verdict(book)
    crashed = [(r.name, r.summary) for r in v.results if "crashed" in r.summary]
    assert not crashed and v.valid is True, crashed
