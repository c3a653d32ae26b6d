"""The defect catalog: deliberate bugs that bad-deploy scenarios roll out.

Every defect is off by default and only switched on by ``--defects a,b``. Each entry says what it breaks,
when it shows, and which judge invariant must catch it; tests/integration/test_defects.py demonstrates each.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Defect:
    name: str
    breaks: str
    shows_when: str
    caught_by: str


CATALOG: dict[str, Defect] = {
    d.name: d
    for d in (
        Defect(
            "lost_update",
            "transfers read balances without row locks and write back absolute values computed in Python",
            "concurrent transfers touch the same account (hot merchants at a promotion peak)",
            "balances_match_ledger, conservation",
        ),
        Defect(
            "double_apply",
            "the idempotency lookup and per-key lock are skipped: a resent key is applied again",
            "a client resends a transfer (retry after a timeout, double submit)",
            "exactly_once",
        ),
        Defect(
            "non_atomic",
            "debit and credit run in two transactions with a gap between them",
            "the wallet crashes or the database fails between the legs: money debited, never credited",
            "conservation, durability, applied_as_requested, failed_not_applied",
        ),
        Defect(
            "ack_before_commit",
            "201 is sent before COMMIT, which runs a little later in the background",
            "the wallet crashes or the database fails in the gap: an acknowledged transfer vanishes",
            "durability",
        ),
        Defect(
            "stale_read",
            "balance reads come from a per-process cache that transfers do not invalidate",
            "an owner reads the balance right after a transfer",
            "read_your_writes",
        ),
        Defect(
            "no_db_timeouts",
            "no connect/statement/lock/acquire timeouts and no request deadline",
            "the database is unreachable (blackholed link): requests hang instead of a fast 503",
            "fail fast, recovery",
        ),
        Defect(
            "no_lockout",
            "failed logins are counted but the account is never locked",
            "credential stuffing: an attacker can guess passwords without limit",
            "lockout",
        ),
        Defect(
            "audit_lies",
            "snapshot, ledger and by-key consistently hide the transfers whose id is a multiple of 7",
            "always: the audit agrees with itself and conserves money, but not with what users see",
            "users_see_audit, durability",
        ),
        Defect(
            "transient_overdraft",
            "the funds check allows overdraft_limit below zero",
            "a user spends more than its balance (low balances, a busy promotion)",
            "no_negative_balances",
        ),
        Defect(
            "lock_never_released",
            "a lockout lasts ten years instead of lockout_duration_s",
            "the owner of a locked account tries again after the lock should have ended",
            "lockout",
        ),
        Defect(
            "ack_without_apply",
            "when a transfer takes over slow_db_s (a slow database), it answers 201 and rolls the work back",
            "database latency: acknowledged transfers are not in the ledger",
            "durability, answers_match_ledger",
        ),
        Defect(
            "over_refund",
            "refunds are not bounded by the payment they refund",
            "a merchant refunds more than was paid, or refunds one payment twice at once",
            "refunds_bounded",
        ),
        Defect(
            "retry_wrong_amount",
            "a key this process saw before but never applied is applied with amount + 1 (a retry path that "
            "re-prices the request); the answer shows the applied amount",
            "a client retries a transfer whose first attempt the wallet received but rolled back (the client "
            "timed out first, the wallet's deadline then aborted it)",
            "applied_as_requested",
        ),
        Defect(
            "accept_tampered_token",
            "session tokens are accepted without checking their signature",
            "a client sends a token it altered",
            "sessions_enforced",
        ),
        Defect(
            "crash_on_start",
            "the process exits with status 3 during start-up",
            "always, as soon as the version is deployed",
            "wallet start (exit 1), deploy rollout",
        ),
    )
}


def parse(spec: str | None) -> frozenset[str]:
    """Parse ``a,b`` into a set of known defect names; unknown names raise ValueError naming them."""
    names = frozenset(n.strip() for n in (spec or "").split(",") if n.strip())
    unknown = sorted(names - CATALOG.keys())
    if unknown:
        raise ValueError(f"unknown defect(s) {', '.join(unknown)}; known: {', '.join(sorted(CATALOG))}")
    return names
