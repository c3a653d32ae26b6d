"""The invariant registry: name -> pure check over ``Facts``. The checks live by theme in ``money``,
``access`` and ``audit``; each docstring states its formula and how unknown (info) outcomes are treated."""

from __future__ import annotations

from collections.abc import Callable

from .access import authorization, lockout, read_your_writes, sessions_enforced
from .audit import audit_consistent, users_see_audit
from .facts import Facts
from .model import Result
from .money import (
    answers_match_ledger,
    applied_as_requested,
    balances_match_ledger,
    conservation,
    durability,
    exactly_once,
    failed_not_applied,
    no_negative_balances,
    no_phantoms,
    refunds_bounded,
)
from .refusals import no_wrong_refusals, reads_in_order

INVARIANT_CHECKS: dict[str, Callable[[Facts], Result]] = {
    fn.__name__: fn
    for fn in (
        conservation,
        durability,
        applied_as_requested,
        answers_match_ledger,
        exactly_once,
        refunds_bounded,
        failed_not_applied,
        no_wrong_refusals,
        no_phantoms,
        balances_match_ledger,
        no_negative_balances,
        audit_consistent,
        users_see_audit,
        authorization,
        sessions_enforced,
        lockout,
        read_your_writes,
        reads_in_order,
    )
}
