"""Access invariants: authorization, lockout and read-your-writes. Each docstring states the formula and how
unknown (info) outcomes are treated."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from ..history import Call
from .columns import quoted, unaid
from .facts import Facts, aid
from .model import Result
from .money import op
from .refusals import consistent, positions, worded

NEVER = 1 << 62
"""End of an operation whose completion was never seen: it may take effect at any later time."""


def authorization(f: Facts) -> Result:
    """No account is debited except by its owner: no ``unauthorized`` call is ok, and every ledger debit of
    account a belongs to a key sent by a session of a (``value.as == a``)."""
    probes = f.db.one("SELECT count(*) FROM calls WHERE f = 'unauthorized'")
    offenders = [op(c) for c in f.db.calls("f = 'unauthorized' AND type = 'ok'")]
    count, foreign = f.db.rows(
        f"""SELECT count(*), list((l.key, l.account, {quoted("account", "l")}) ORDER BY l.pos)
            FILTER (WHERE aid(c."as") <> l.account)
        FROM ledger l JOIN keys k USING (key) JOIN calls c ON c.idx = k.first WHERE l.delta < 0"""
    )[0]
    foreign = [tuple(debit) for debit in foreign or []]
    by_key = f.db.by_key(k for k, _, _ in foreign)
    for key, account, string in foreign:
        call = by_key[key][0]
        offenders.append(op(call, debited=unaid(account, string), acting_as=call.value.get("as")))
    return Result.from_offenders(
        "authorization",
        "invariant",
        offenders,
        f"only owners debited their accounts ({probes} forbidden attempt(s), {count} debit(s))",
        "{n} debit(s) by someone other than the owner",
        None,
        authorization.__doc__ or "",
        probes + count,
    )


def sessions_enforced(f: Facts) -> Result:
    """No request with a tampered token or no token is served, and no one reads another user's account:
    every ``auth_probe`` (tampered / missing token, a foreign account) ends in a definite refusal, never
    2xx. info probes are ignored (nothing was shown to the client)."""
    # a "foreign" read of one's own account (an old load picked it by chance) is a legitimate read
    probe = """f = 'auth_probe' AND NOT ((probe ->> '$') IS NOT DISTINCT FROM 'foreign'
        AND aid(account) = aid("as"))"""
    probes = f.db.one(f"SELECT count(*) FROM calls WHERE {probe}")
    offenders = [op(c, probe=c.value.get("probe")) for c in f.db.calls(f"{probe} AND type = 'ok'")]
    return Result.from_offenders(
        "sessions_enforced",
        "invariant",
        offenders,
        f"all {probes} probe(s) with a bad, missing or foreign session refused",
        "{n} request(s) served with a tampered or missing token, or to a non-owner",
        None,
        sessions_enforced.__doc__ or "",
        probes,
    )


def _rule(f: Facts) -> tuple[int, int, int]:
    s = f.scenario.wallet.settings
    return (
        int(s.get("lockout_threshold", 5)),
        int(float(s.get("lockout_window_s", 900)) * 1e9),
        int(float(s.get("lockout_duration_s", 900)) * 1e9),
    )


def lockout(f: Facts) -> Result:
    """Lock engages: once ``threshold`` failed logins (401) that were surely counted together have
    completed, every login invoked after the last of them completed (t_N) and answered before
    start_N + duration (the earliest the lock may end) answers 423; a 201 or 401 there is a violation.
    Failures are surely counted together when each was invoked after the last reset the client could see
    (a 201 or 423 completing resets the count), within ``window`` of t_N, and no possible reset was in
    flight during their span: a 201/423 in flight, or a legitimate login whose outcome is unknown (info),
    which may have reset the count at any time after it was invoked. This under-counts under concurrency,
    never over-counts.
    Release and spurious locks: no 423 carries a retry_after longer than the duration (+1 s rounding); a 423
    needs a wrong-password attempt invoked before it completed; and a 423 invoked more than duration + 1 s
    after the last such attempt completed shows a lock that outlived its duration (attempts with an unknown
    outcome may have landed any time later, so they exempt the 423)."""
    threshold, window, duration = _rule(f)
    logins = f.db.calls("f IN ('login', 'attack')")
    per_account: dict[str, list[Call]] = defaultdict(list)
    for c in logins:
        per_account[aid(c.value["account"])].append(c)
    offenders = []
    for calls in per_account.values():
        offenders += _lock_engages(calls, threshold, window, duration)
        offenders += _lock_releases(calls, duration)
    failures = sum(1 for c in logins if c.status == 401)
    return Result.from_offenders(
        "lockout",
        "invariant",
        offenders,
        f"lockout engaged and released as configured ({failures} failed login(s))",
        "{n} login(s) that broke the lockout rule",
        None,
        lockout.__doc__ or "",
        failures,
    )


def _lock_engages(calls: list[Call], threshold: int, window: int, duration: int) -> list[dict[str, Any]]:
    seen = [c for c in calls if c.type != "info" and c.end is not None]
    events = sorted(
        [(c.start, 0, i) for i, c in enumerate(seen)] + [(c.end or 0, 1, i) for i, c in enumerate(seen)]
    )
    offenders: list[dict[str, Any]] = []
    failures: list[Call] = []
    resets = [(c.start, c.end or 0) for c in seen if c.status in (201, 423)]  # each may reset the count
    resets += [(c.start, NEVER) for c in calls if c.type == "info" and c.value.get("legit")]
    reset_at, lock = -1, (-1, -1)
    lock_at_invoke: dict[int, tuple[int, int]] = {}
    for t, completing, i in events:
        c = seen[i]
        if not completing:
            lock_at_invoke[i] = lock
            continue
        start_lock, end_lock = lock_at_invoke[i]
        if start_lock < c.start and (c.end or 0) < end_lock and c.status in (201, 401):
            offenders.append(op(c, expected=423, locked_for_s=round((end_lock - c.start) / 1e9, 2)))
        if c.status in (201, 423):
            reset_at, failures = t, []
        elif c.status == 401 and c.start > reset_at:
            failures = [x for x in failures if x.start > t - window] + [c]
            overlapped = any(a <= t and b >= failures[0].start for a, b in resets)  # in flight, maybe first
            if len(failures) >= threshold and not overlapped:
                lock, reset_at, failures = (t, c.start + duration), t, []
    return offenders


def _lock_releases(calls: list[Call], duration: int) -> list[dict[str, Any]]:
    slack = 1_000_000_000
    wrong = [c for c in calls if not c.value.get("legit") and c.status != 423 and c.type != "ok"]
    offenders: list[dict[str, Any]] = []
    for c in calls:
        if c.status != 423:
            continue
        if float(c.value.get("retry_after") or 0) > duration / 1e9 + 1:
            offenders.append(
                op(c, expected=f"retry_after <= {duration / 1e9:g}s", got=c.value.get("retry_after"))
            )
        before = [w for w in wrong if w.start < (c.end or NEVER)]
        if not before:
            offenders.append(op(c, problem="423 with no failed login before it"))
            continue
        latest = max(w.end if w.type != "info" and w.end is not None else NEVER for w in before)
        if latest != NEVER and c.start > latest + duration + slack:
            offenders.append(
                op(c, problem="lock outlived its duration", since_last_failure_s=(c.start - latest) / 1e9)
            )
    return offenders


def read_your_writes(f: Facts) -> Result:
    """A balance read by a session that started after its own acknowledged debit of that account returns a
    balance at or after that debit in the account's ledger order: read in {B_j : j >= k}, where B_j is the
    replayed balance after the j-th posting and k the position of the debit. Accounts whose stored balance
    does not match the ledger are left to balances_match_ledger."""
    positions(f)
    accounts = consistent(f, f.db.keys("SELECT DISTINCT account FROM ledger"))
    # each read with the latest acknowledged debit of its account by the same client before it (by invoke
    # time, history order on ties), when that debit had completed before the read began
    checked, stale = f.db.rows(
        """WITH ops AS (
            SELECT idx, process, aid("from") AS account, start, "end", key, NULL::HUGEINT AS balance
                FROM calls WHERE f IN ('pay', 'p2p') AND type = 'ok' AND key IS NOT NULL AND key <> ''
            UNION ALL SELECT idx, process, aid(account), start, "end", NULL, balance::HUGEINT FROM calls
                WHERE f = 'balance' AND type = 'ok' AND json_type(balance) IN ('BIGINT', 'UBIGINT')
                AND aid(account) IN (SELECT unnest(?::VARCHAR[]))),
        r AS (SELECT * FROM ops WHERE key IS NULL),
        d AS (SELECT * FROM ops WHERE key IS NOT NULL),
        rd AS (SELECT r.idx, r.account, r.start, r.balance, d."end" AS debit_end, d.key AS debit_key FROM r
            ASOF JOIN d ON d.process = r.process AND d.account = r.account
                AND (r.start, r.idx) > (d.start, d.idx)),
        q AS (SELECT rd.idx, rd.balance, rd.debit_key,
            (SELECT min(p) - 1 FROM positions p
                WHERE p.account = rd.account AND p.key = rd.debit_key) AS debit_at,
            coalesce((SELECT max(p) - 1 FROM positions p
                WHERE p.account = rd.account AND p.balance = rd.balance), -1) AS last_seen
            FROM rd WHERE rd.debit_end < rd.start)
        SELECT count(*), list((idx, balance, debit_key) ORDER BY idx) FILTER (WHERE last_seen < debit_at)
        FROM q""",
        accounts,
    )[0]
    found = [(i, {"balance": int(b), "after_key": k}) for i, b, k in stale or []]
    offenders = worded(f, found)
    return Result.from_offenders(
        "read_your_writes",
        "invariant",
        offenders,
        f"no stale balance read ({checked} read(s) after the reader's own transfer)",
        "{n} read(s) older than the reader's own acknowledged transfer",
        None,
        read_your_writes.__doc__ or "",
        checked,
    )
