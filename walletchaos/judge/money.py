"""Money invariants over the history and the final audit. Each docstring states the formula and how unknown
(info) outcomes are treated. Nothing the wallet says about itself is taken on trust: every ledger transfer
is held against the request that caused it, and every answer against the ledger."""

from __future__ import annotations

from typing import Any

from ..history import Call
from .columns import POSTING, TRANSFERS, posting_of, quoted, unaid
from .facts import Facts, aid
from .model import MAX_LISTED, Result


def op(call: Call, **extra: Any) -> dict[str, Any]:
    """An offending op as evidence: time, op, key, amount, accounts and response."""
    v = call.value
    out = {
        "index": call.index,
        "t_s": round(call.start / 1e9, 3),
        "f": call.f,
        "key": call.key,
        "type": call.type,
        "status": call.status,
    }
    out.update({k: v[k] for k in ("from", "to", "amount", "account") if k in v})
    return {**out, **extra}


def unknown(name: str, why: str) -> Result:
    return Result(name, "invariant", None, why)


def _legs(posts: list[dict[str, Any]]) -> list[tuple[str, int]]:
    legs = [(aid(p["account"]), int(p["delta"])) for p in posts]
    legs.sort()
    return legs


def _wanted(value: dict[str, Any]) -> list[tuple[str, int]]:
    amount = int(value["amount"])
    return sorted([(aid(value["from"]), -amount), (aid(value["to"]), amount)])


_PLAIN = "('VARCHAR', 'BIGINT', 'UBIGINT')"
_FIRST = "SELECT key, first AS idx FROM keys"
"""Each key's first transfer call (``by_key[key][0]``)."""
_WANTED = (
    "SELECT c.idx, c.key, least(a, b) AS lo, greatest(a, b) AS hi, plain FROM (SELECT c.idx, c.key, "
    "{'a': aid(c.\"from\"), 'd': -TRY_CAST(c.amount AS BIGINT)} AS a, "
    "{'a': aid(c.\"to\"), 'd': TRY_CAST(c.amount AS BIGINT)} AS b, "
    f"coalesce(json_type(c.amount) IN ('BIGINT', 'UBIGINT') AND json_type(c.\"from\") IN {_PLAIN} "
    f'AND json_type(c."to") IN {_PLAIN}, false) AS plain '
    "FROM calls c SEMI JOIN (SELECT first AS idx FROM keys UNION SELECT first_ok FROM keys) x "
    "ON c.idx = x.idx) c"
)
"""``_wanted`` of each key's first and first acknowledged transfer call, by idx: its least and greatest leg,
with ``plain`` false when a field is not an integer or a string id (the Python decides those)."""


def wanted(f: Facts) -> str:
    """The table of ``_WANTED`` (durability and applied_as_requested read it), made once."""
    return f.db.table("wanted", _WANTED)


_MATCH = "(t.postings = 2 AND t.lo = w.lo AND t.hi = w.hi)"
"""A ledger transfer ``t`` has exactly the wanted legs ``w`` (two postings, the same two legs)."""

OUTCOME_ORDER = {"ok": 0, "info": 1, "fail": 2}


def explain(f: Facts, account: str, diff: int, limit: int = 3) -> list[str]:
    """The transfers that would explain ``diff`` on ``account`` (stored - replayed): requests touching the
    account whose amount is |diff|, acknowledged first, then unknown, then failed, e.g. "key k-17 answered
    503 but its 2500 is in m0003's credits"."""
    want = abs(diff)
    near = f.db.keys(
        f"""WITH first AS ({_FIRST}) SELECT c.key FROM first JOIN calls c ON c.idx = first.idx
        WHERE (TRY_CAST(coalesce(c.amount, '-1') AS BIGINT) = ?
            OR json_type(c.amount) NOT IN ('BIGINT', 'UBIGINT'))
            AND ? IN (aid(c."from"), aid(c."to"))""",
        want,
        account,
    )
    in_ledger = set(
        f.db.keys("SELECT DISTINCT key FROM ledger WHERE key IN (SELECT unnest(?::VARCHAR[]))", near)
    )
    candidates = []
    for key, calls in f.db.by_key(near).items():
        v = calls[0].value
        if int(v.get("amount", -1)) != want or account not in (aid(v.get("from")), aid(v.get("to"))):
            continue
        best = min(calls, key=lambda c: OUTCOME_ORDER.get(c.type, 3))
        side = "credits" if aid(v.get("to")) == account else "debits"
        answer = {"ok": "acknowledged", "info": "ended unknown"}.get(best.type, f"answered {best.status}")
        where = "in the ledger" if key in in_ledger else "not in the ledger"
        candidates.append(
            (
                OUTCOME_ORDER.get(best.type, 3),
                f"key {key} {answer} ({where}); its {want} is in {account}'s {side}",
            )
        )
    return [text for _, text in sorted(candidates)[:limit]]


def conservation(f: Facts) -> Result:
    """sum(final snapshot balances of the run's accounts) == sum(their initial balances). Transfers move
    money, never create or destroy it; info ops do not matter because any applied transfer is zero-sum.
    The impact per account is the snapshot minus the ledger replay (money the ledger cannot explain)."""
    if f.snapshot is None:
        return unknown("conservation", "no audit snapshot")
    before = sum(f.initial.values())
    after = sum(f.snapshot.get(a, 0) for a in f.initial)
    exercised = f.db.one("SELECT count(DISTINCT tid) FROM ledger")  # transfers the ledger holds
    if before == after:
        return Result("conservation", "invariant", True, f"total {after} conserved", exercised=exercised)
    impact = {a: f.snapshot.get(a, 0) - f.replay.get(a, 0) for a in f.initial}
    explained = [a for a, d in impact.items() if d][:100]  # each explanation scans the keys: bounded
    return Result(
        "conservation",
        "invariant",
        False,
        f"total changed by {after - before:+d}",
        1,
        details={
            "initial_total": before,
            "final_total": after,
            "difference": after - before,
            "impact_by_account": {a: d for a, d in impact.items() if d},
            "explained_by": {a: explain(f, a, d) for a, d in list(impact.items()) if d and a in explained},
        },
        exercised=exercised,
    )


def durability(f: Facts) -> Result:
    """For every key with an ok transfer: the ledger holds a transfer with that key whose postings are
    -amount on ``from`` and +amount on ``to`` (both legs). info ops are not acknowledged: not required."""
    acked, found = f.db.rows(
        f"""SELECT count(*), list(w.key) FILTER (WHERE NOT w.plain
            OR NOT EXISTS (SELECT 1 FROM transfers t WHERE t.key = w.key AND {_MATCH}))
        FROM keys k JOIN {wanted(f)} w ON w.idx = k.first_ok"""
    )[0]
    suspects = found or []
    by_key, ledger = f.db.by_key(suspects), f.db.ledger_keys(suspects)
    offenders = []
    for calls in by_key.values():
        ok = next((c for c in calls if c.type == "ok"), None)
        if ok is None:
            continue
        legs = [_legs(posts) for posts in ledger.get(ok.key or "", {}).values()]
        if _wanted(ok.value) not in legs:
            offenders.append(op(ok, found_legs=legs[:2]))
    return Result.from_offenders(
        "durability",
        "invariant",
        offenders,
        f"all {acked} acknowledged transfer(s) have both legs",
        "{n} acknowledged transfer(s) missing or incomplete in the ledger",
        "amount",
        durability.__doc__ or "",
        acked,
    )


def applied_as_requested(f: Facts) -> Result:
    """For every key the client sent and every transfer id the ledger holds under it, whatever the calls'
    outcomes (ok, fail or info): exactly two postings, -amount on ``from`` and +amount on ``to``, with the
    amount and accounts of the request. A wrong amount or payee, one leg, or a double apply under one
    transfer id is a violation."""
    mismatched = f"""SELECT w.key, count(*) AS transfers,
            count(*) FILTER (WHERE NOT (w.plain AND {_MATCH})) AS wrong
        FROM keys k JOIN {wanted(f)} w ON w.idx = k.first JOIN transfers t ON t.key = w.key
        WHERE k.tids > 0 GROUP BY w.key"""
    checked, found = f.db.rows(
        f"SELECT coalesce(sum(transfers), 0)::BIGINT, list(key) FILTER (WHERE wrong > 0) FROM ({mismatched})"
    )[0]
    suspects = found or []
    by_key, ledger = f.db.by_key(suspects), f.db.ledger_keys(suspects)
    offenders = []
    for key, transfers in ledger.items():
        calls = by_key.get(key)
        if not calls:
            continue
        want = _wanted(calls[0].value)
        for tid, posts in transfers.items():
            if _legs(posts) != want:
                offenders.append(op(calls[0], transfer_id=tid, found_legs=_legs(posts)[:4], wanted=want))
    return Result.from_offenders(
        "applied_as_requested",
        "invariant",
        offenders,
        f"all {checked} applied transfer(s) match their requests",
        "{n} ledger transfer(s) differ from the request that caused them",
        None,
        applied_as_requested.__doc__ or "",
        checked,
    )


def _response(call: Call) -> dict[str, Any]:
    return dict(((call.done or {}).get("value") or {}).get("response") or {})


def _mismatch(answer: dict[str, Any], request: dict[str, Any]) -> dict[str, Any]:
    """Fields of a transfer answer that differ from the request (only fields the answer carries)."""
    out: dict[str, Any] = {}
    for k in ("from", "to", "amount"):
        if k in answer and aid(answer[k]) != aid(request[k]):
            out[k] = {"answered": answer[k], "requested": request[k]}
    return out


def answers_match_ledger(f: Facts) -> Result:
    """What the wallet answered agrees with its ledger and with the request: for every key, every 201 carries
    the same transfer id, that id is the ledger's transfer for the key, and the body's from/to/amount equal
    the request's; the by-key answer after the run agrees likewise. A resend of an acknowledged key answered
    with a definite failure (409/422) is a violation; after only unknown attempts it is ambiguous (counted
    in ``details.ambiguous``, not a violation)."""
    resolved = sorted(k for k, v in f.resolved.items() if isinstance(v, dict))
    checked = f.db.one(
        f"""SELECT count(*) FROM calls WHERE {TRANSFERS} AND type = 'ok'
        AND (probe ->> '$') IS DISTINCT FROM 'other_body'"""
    ) + f.db.one(
        f"SELECT count(DISTINCT key) FROM calls WHERE {TRANSFERS} AND key IN (SELECT unnest(?::VARCHAR[]))",
        resolved,
    )
    # the keys the wording below must look at: a superset of those with an offender or an ambiguous refusal
    differs = " OR ".join(
        f'(r[{i}] IS NOT NULL AND r[{i}] IS DISTINCT FROM "{k}" AND (json_type(r[{i}]) NOT IN {_PLAIN} '
        f'OR json_type("{k}") NOT IN {_PLAIN} OR aid(r[{i}]) IS DISTINCT FROM aid("{k}")))'
        for i, k in enumerate(("from", "to", "amount"), 1)
    )
    # a definite refusal (409/422) of a key: a violation after its first acknowledgement, ambiguous before
    # it when the key also has unknown attempts (counted here: the wording below only sees the violations)
    ambiguous, late = f.db.rows(
        f"""WITH t AS (SELECT key, type, status, start, "end" FROM calls
            WHERE {TRANSFERS} AND (probe ->> '$') IS DISTINCT FROM 'other_body'),
        refused AS (SELECT key, start FROM t WHERE type = 'fail' AND status IN (409, 422)),
        k AS (SELECT key, bool_or(type = 'info') AS unknown, min(CASE WHEN coalesce("end", 0) = 0 THEN start
                ELSE "end" END) FILTER (WHERE type = 'ok') AS first_ok
            FROM t SEMI JOIN refused USING (key) GROUP BY key),
        r AS (SELECT refused.key, k.first_ok IS NOT NULL AND refused.start > k.first_ok AS late, k.unknown
            FROM refused JOIN k USING (key))
        SELECT count(*) FILTER (WHERE NOT late AND unknown), list(DISTINCT key) FILTER (WHERE late) FROM r"""
    )[0]
    suspects = f.db.keys(
        f"""WITH oks AS (SELECT key, id, response_from, response_to, response_amount FROM calls
            WHERE {TRANSFERS} AND type = 'ok' AND (probe ->> '$') IS DISTINCT FROM 'other_body'),
        ids AS (SELECT key, aid(id) AS tid, json_type(id) AS kind FROM oks
            WHERE id IS NOT NULL AND id <> 'null')
        SELECT key FROM calls WHERE {TRANSFERS} AND (probe ->> '$') = 'other_body'
        UNION SELECT key FROM ids GROUP BY key HAVING min(tid) <> max(tid) OR bool_or(kind NOT IN {_PLAIN})
        UNION SELECT ids.key FROM ids JOIN keys k ON k.key = ids.key AND k.tids > 0
            ANTI JOIN transfers t ON t.key = ids.key AND t.tid = ids.tid
        UNION SELECT key FROM (SELECT o.key, [o.response_from, o.response_to, o.response_amount] AS r,
                q."from", q."to", q.amount
            FROM oks o JOIN keys k USING (key) JOIN calls q ON q.idx = k.first)
            WHERE {differs}
        UNION SELECT unnest(?::VARCHAR[])""",
        resolved + (late or []),
    )
    by_key = f.db.by_key(suspects)
    ledger_keys = f.db.ledger_keys(suspects)
    offenders: list[dict[str, Any]] = []
    for key, calls in by_key.items():
        request = calls[0].value
        ledger_ids = ledger_keys.get(key) or {}  # transfer id -> postings
        other_body = [c for c in calls if c.value.get("probe") == "other_body"]
        if other_body:
            offenders += [
                op(c, problem="same key with another body answered 201") for c in other_body if c.type == "ok"
            ]
            # a 409 to another body is the contract's answer
            calls = [c for c in calls if c not in other_body]
        oks = [c for c in calls if c.type == "ok"]
        ids = {aid(c.value.get("id")) for c in oks if c.value.get("id") is not None}
        if len(ids) > 1:
            offenders.append(op(oks[0], problem="replays answered different transfer ids", ids=sorted(ids)))
        for c in oks:
            tid = c.value.get("id")
            if tid is not None and ledger_ids and aid(tid) not in ledger_ids:
                offenders.append(op(c, problem="201 id is not the ledger's transfer", answered_id=tid))
            bad = _mismatch(_response(c), request)
            if bad:
                offenders.append(op(c, problem="201 body differs from the request", differs=bad))
        first_ok = min((c.end or c.start for c in oks), default=None)
        for c in calls:
            if c.type == "fail" and c.status in (409, 422) and first_ok is not None and c.start > first_ok:
                offenders.append(op(c, problem="acknowledged key later refused", error=c.invoke.get("error")))
        resolved_answer = f.resolved.get(key)
        if isinstance(resolved_answer, dict):
            bad = _mismatch(resolved_answer, request)
            rid = resolved_answer.get("id")
            if rid is not None and ledger_ids and aid(rid) not in ledger_ids:
                bad["id"] = {"answered": rid, "ledger": sorted(ledger_ids)}
            if bad:
                offenders.append(op(calls[0], problem="by-key answer differs", differs=bad))
    return Result.from_offenders(
        "answers_match_ledger",
        "invariant",
        offenders,
        f"{checked} answer(s) agree with the ledger and the requests",
        "{n} answer(s) contradict the ledger or the request",
        None,
        answers_match_ledger.__doc__ or "",
        checked,
        ambiguous=ambiguous,
    )


def refunds_bounded(f: Facts) -> Result:
    """Refunds of a payment P (applied transfers whose request names ``refund_of`` = P's id) go from P's
    payee back to P's payer, and their amounts sum to at most P's amount; a refund of a transfer that is
    not in the ledger is a violation too. Only applied refunds count (the ledger decides, whatever the
    calls' outcomes)."""
    refunds = f.db.calls(
        f"""idx IN (SELECT min(idx) FROM calls WHERE {TRANSFERS} GROUP BY key)
        AND (refund_of IS NOT NULL AND json_type(refund_of) <> 'NULL') AND key IN (SELECT key FROM ledger)"""
    )
    refunded: dict[str, list[Call]] = {}
    for c in refunds:
        refunded.setdefault(aid(c.value["refund_of"]), []).append(c)
    postings: dict[str, list[dict[str, Any]]] = {}  # of the refunded transfers, in ledger order
    for tid, *posting in f.db.rows(
        f"SELECT tid, {POSTING} FROM ledger WHERE tid IN (SELECT unnest(?::VARCHAR[])) ORDER BY pos",
        list(refunded),
    ):
        postings.setdefault(tid, []).append(posting_of(posting))
    payments: dict[str, tuple[str, str, int]] = {}  # the refunded ones: (payer, payee, amount)
    for tid, posts in postings.items():
        debit = next((p for p in posts if int(p["delta"]) < 0), None)
        credit = next((p for p in posts if int(p["delta"]) > 0), None)
        if debit is not None and credit is not None:
            payments[tid] = (aid(debit["account"]), aid(credit["account"]), int(credit["delta"]))
    offenders = []
    for payment, refunds in refunded.items():
        base = payments.get(payment)
        total = sum(int(c.value["amount"]) for c in refunds)
        if base is None:
            offenders.append(op(refunds[0], problem="refund of a transfer that is not in the ledger"))
        elif total > base[2]:
            offenders.append(
                op(refunds[-1], problem="refunds exceed the payment", paid=base[2], refunded=total)
            )
        wrong = [
            c for c in refunds if base and (aid(c.value["from"]), aid(c.value["to"])) != (base[1], base[0])
        ]
        offenders += [op(c, problem="refund does not go from the payee back to the payer") for c in wrong]
    return Result.from_offenders(
        "refunds_bounded",
        "invariant",
        offenders,
        f"refunds of {len(refunded)} payment(s) within their amounts, payee back to payer",
        "{n} refund(s) beyond the payment or between the wrong accounts",
        None,
        refunds_bounded.__doc__ or "",
        len(refunded),
    )


def exactly_once(f: Facts) -> Result:
    """For every idempotency key: |distinct transfer ids in the ledger| <= 1, however often it was sent."""
    sent, resent = f.db.rows("SELECT count(*), count(*) FILTER (WHERE sent > 1) FROM keys")[0]
    twice = f.db.keys("SELECT key FROM keys WHERE tids > 1")
    calls, ledger = f.db.by_key(twice), f.db.ledger_keys(twice)
    offenders = [
        op(calls[key][0], applied=len(transfers), sent=len(calls[key])) for key, transfers in ledger.items()
    ]
    return Result.from_offenders(
        "exactly_once",
        "invariant",
        offenders,
        f"no key applied twice ({resent} key(s) sent more than once)",
        "{n} key(s) applied more than once",
        "applied",
        exactly_once.__doc__ or "",
        sent,
    )


def failed_not_applied(f: Facts) -> Result:
    """For every key whose calls ALL failed definitely (no ok, no info): the key is absent from the ledger.
    Keys with any info call are excluded: their outcome is unknown by definition."""
    count = f.db.one("SELECT count(*) FROM keys WHERE all_fail")
    applied = f.db.keys("SELECT key FROM keys WHERE all_fail AND tids > 0")
    offenders = [op(calls[0], attempts=len(calls)) for calls in f.db.by_key(applied).values()]
    return Result.from_offenders(
        "failed_not_applied",
        "invariant",
        offenders,
        f"none of {count} failed transfer(s) was applied",
        "{n} definitely failed transfer(s) applied anyway",
        None,
        failed_not_applied.__doc__ or "",
        count,
    )


def no_phantoms(f: Facts) -> Result:
    """Every ledger key was sent by some client call: keys(ledger) is a subset of keys(history).
    The load process writes each invoke before sending the request (to a buffer it flushes every second and
    at its end); only when it did not end cleanly (killed, crashed) may the invoke of a request it sent be
    missing, so then keys without a recorded request are reported as unknown, not as phantoms."""
    keys = f.db.one("SELECT count(DISTINCT key) FROM ledger")
    unsent = f.db.keys(
        f"SELECT DISTINCT key FROM ledger ANTI JOIN (SELECT key FROM calls WHERE {TRANSFERS}) USING (key)"
    )
    offenders = [
        {"index": None, "seq": posts[0]["seq"], "key": key, "account": posts[0]["account"]}
        for key, transfers in f.db.ledger_keys(unsent).items()
        for posts in transfers.values()
    ]
    if offenders and f.load_exit and not f.load_exit.get("clean"):
        return Result(
            "no_phantoms",
            "invariant",
            None,
            f"{len(offenders)} ledger transfer(s) without a recorded request, but the load process did not "
            f"end cleanly (exit {f.load_exit.get('returncode')}): their invokes may have been lost",
            len(offenders),
            details={"offenders": offenders[:MAX_LISTED]},
        )
    return Result.from_offenders(
        "no_phantoms",
        "invariant",
        offenders,
        f"all {keys} ledger key(s) were requested",
        "{n} ledger transfer(s) nobody asked for",
        None,
        no_phantoms.__doc__ or "",
        keys,
    )


def balances_match_ledger(f: Facts) -> Result:
    """For every account a: snapshot[a] == initial[a] + sum(delta of postings on a)."""
    if f.snapshot is None:
        return unknown("balances_match_ledger", "no audit snapshot")
    replay = f.replay
    offenders: list[dict[str, Any]] = [
        {
            "index": None,
            "account": a,
            "stored": b,
            "replayed": replay.get(a, 0),
            "diff": b - replay.get(a, 0),
        }
        for a, b in sorted(f.snapshot.items())
        if b != replay.get(a, 0)
    ]
    for o in offenders[:100]:  # each explanation scans the keys: bounded
        o["explained_by"] = explain(f, o["account"], o["diff"])
    return Result.from_offenders(
        "balances_match_ledger",
        "invariant",
        offenders,
        "stored balances equal ledger replay",
        "{n} account(s) whose balance differs from the ledger",
        "diff",
        balances_match_ledger.__doc__ or "",
        f.ledger_accounts,
    )


def no_negative_balances(f: Facts) -> Result:
    """snapshot[a] >= 0 for every account; every ok balance read returned >= 0; and replaying each
    account's postings in ledger ``seq`` order (the contract's per-account commit order) from its initial
    balance never goes below zero (a transient overdraft later topped up is caught)."""
    offenders = [{"index": None, "account": a, "balance": b} for a, b in (f.snapshot or {}).items() if b < 0]
    read = "f = 'balance' AND type = 'ok'"
    reads = f.db.one(f"SELECT count(*) FROM calls WHERE {read}")
    suspects = f.db.calls(
        f"""{read} AND (json_type(balance) NOT IN ('BIGINT', 'UBIGINT', 'NULL')
        OR TRY_CAST(balance AS BIGINT) < 0)"""
    )
    offenders += [
        op(c, balance=c.value.get("balance")) for c in suspects if (c.value.get("balance") or 0) < 0
    ]
    f.db.positions(f.initial)
    for account, balance, seq, string in f.db.rows(
        """WITH first AS (SELECT account, min({'n': seq_number IS NULL, 'v': seq_number, 't': seq_text,
                'pos': pos}) AS first FROM ledger GROUP BY account),
        negative AS (SELECT account, arg_min(balance, p) AS balance, arg_min(pos, p) AS pos
            FROM positions WHERE balance < 0 GROUP BY account)
        SELECT n.account, n.balance, l.seq_text, """
        + quoted("seq", "l")
        + """ FROM negative n
            JOIN ledger l ON l.pos = n.pos JOIN first ON first.account = n.account ORDER BY first.first"""
    ):
        offenders.append(
            {
                "index": None,
                "account": account,
                "balance": int(balance),
                "seq": unaid(seq, string),
                "replay": True,
            }
        )
    return Result.from_offenders(
        "no_negative_balances",
        "invariant",
        offenders,
        "no negative balance",
        "{n} negative balance(s)",
        "balance",
        no_negative_balances.__doc__ or "",
        f.ledger_accounts + reads,
    )
