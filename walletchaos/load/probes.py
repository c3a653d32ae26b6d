"""Probes: ops that exercise what the ordinary mix never does, so the judge can see it. Each is a normal
history op whose ``value.probe`` names the probe; every loop here is bounded (two concurrent sends at most).

- ``auth_probe``: a tampered token, no token, a token whose ``expires_in`` ran out at least 2 s ago (when
  the wallet's sessions are short enough to end during the run, e.g. ``settings: {token_ttl_s: 4}``), or
  another user's account: must never be 2xx (judged by ``sessions_enforced``).
- ``idempotency_probe``: one new key sent twice at the same moment, an acknowledged key resent with another
  body (must be 409), or resent long after with the same body (must replay the same transfer)
  (``exactly_once``, ``answers_match_ledger``).
- ``refund_probe``: a refund of more than the payment, two full refunds of one payment at once, or the
  payer sending back a refund it received as a refund of that refund (``refunds_bounded``).
"""

from __future__ import annotations

from typing import Any

import gevent

from ..tokens import tampered
from . import workload

AUTH_PROBES = ("tampered", "missing", "foreign", "expired")
IDEMPOTENCY_PROBES = ("concurrent", "other_body", "late_replay")
REFUND_PROBES = ("over_refund", "concurrent_refunds", "refund_of_refund")


def auth_probe(user: Any, intended: int) -> None:
    kind = user.rng.choice(AUTH_PROBES)
    me = user.me.id
    account, headers = me, {}
    expired = user.long_expired() if kind == "expired" else None
    if kind == "expired" and expired is None:
        kind = "tampered"  # no session of this user has ended yet
    if expired is not None:
        headers = user._auth(expired)
    elif kind == "tampered" and user.token:
        headers = user._auth(tampered(user.token))
    elif kind == "foreign":
        others = [u.id for u in user.accounts.users if u.id != me]
        account = user.rng.choice(others) if others else me  # never one's own account (that read is legit)
        headers = user._auth(user.token) if others else {}
    value = {"probe": kind, "account": account, "as": me}
    user._call("auth_probe", "GET", f"/v1/accounts/{account}", value, intended, headers=headers)


def _together(user: Any, sends: list[tuple[str, dict[str, Any], dict[str, Any], dict[str, str]]]) -> None:
    """Send transfer calls ``(f, value, body, headers)`` at the same moment, bounded in time."""
    greenlets = [
        gevent.spawn(user._call, f, "POST", "/v1/transfers", value, None, body, headers)
        for f, value, body, headers in sends
    ]
    gevent.joinall(greenlets, timeout=2 * float(user.load.client_timeout) + 1)


def idempotency_probe(user: Any, intended: int) -> None:
    kind = user.rng.choice(IDEMPOTENCY_PROBES)
    if kind != "concurrent" and user.acked:
        f, value, body = user.acked[user.rng.randrange(len(user.acked))]
        headers = {**user._auth(user.token), "Idempotency-Key": value["key"]}
        if kind == "other_body":
            body = {**body, "amount": body["amount"] + 1}
            value = {**value, "amount": body["amount"]}
        user._call(
            f, "POST", "/v1/transfers", {**value, "probe": kind, "resend": True}, intended, body, headers
        )
        return
    merchant = user.rng.choice(user.accounts.merchants)
    key = user.new_key()
    me, amount = user.me.id, user._amount()
    body = {"from": me, "to": merchant.id, "amount": amount, "currency": user.currency}
    value = {"key": key, "from": me, "to": merchant.id, "amount": amount, "as": me, "probe": "concurrent"}
    headers = {**user._auth(user.token), "Idempotency-Key": key}
    _together(user, [("pay", value, body, headers)] * 2)


def refund_probe(user: Any, intended: int) -> None:
    kind = user.rng.choice(REFUND_PROBES)
    me = user.me.id
    if kind == "refund_of_refund" and user.refunds:
        got = user.refunds.pop(user.rng.randrange(len(user.refunds)))
        merchant, key = got["merchant"], user.new_key()
        body = {"from": me, "to": merchant.id, "amount": got["amount"], "currency": user.currency}
        body["refund_of"] = got["id"]
        value = {"key": key, "from": me, "to": merchant.id, "amount": got["amount"], "as": me}
        value.update(refund_of=got["id"], probe=kind)
        headers = {**user._auth(user.token), "Idempotency-Key": key}
        user._call("refund", "POST", "/v1/transfers", value, intended, body, headers)
        return
    kind = "over_refund" if kind == "refund_of_refund" else kind  # no refund received yet to send back
    got = workload.refundable(user, intended)
    if got is None:
        return
    paid, token = got
    merchant = paid["merchant"]
    sends = []
    for amount in [paid["amount"] + 1] if kind != "concurrent_refunds" else [paid["amount"]] * 2:
        key = user.new_key()
        body = {"from": merchant.id, "to": me, "amount": amount, "currency": user.currency}
        body["refund_of"] = paid["id"]
        value = {"key": key, "from": merchant.id, "to": me, "amount": amount, "as": merchant.id}
        value.update(refund_of=paid["id"], probe=kind)
        sends.append(("refund", value, body, {**user._auth(token), "Idempotency-Key": key}))
    _together(user, sends)
