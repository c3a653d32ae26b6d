"""The workload: what each op of the mix does, as plain functions of a user and the op's intended start,
in one table (``OPS``) keyed by the scenario's op names. No Locust here: the functions only use what a
user offers (``rng``, ``me``, ``token``, ``accounts``, the recent ``payments``/``refunds``, and the calls
``_transfer``, ``_call``, ``_login``, ``_auth``, ``merchant_token``, ``_amount``), so they are unit-tested
with a fake user; ``users.WalletUser`` is the Locust user that provides them over HTTP.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import probes

Op = Callable[[Any, int], None]


def pay(user: Any, intended: int) -> None:
    """A payment to a merchant: the hot one (merchant 0) with ``hot_merchant_share``, else any."""
    merchants = user.accounts.merchants
    hot = user.rng.random() < user.accounts.hot_merchant_share
    merchant = merchants[0] if hot else user.rng.choice(merchants)
    kind, data = user._transfer(
        "pay", user.token, user.me.id, merchant.id, user._amount(), intended, user.me.id
    )
    if kind == "ok" and "id" in data:
        user.payments = [
            *user.payments[-19:],
            {"id": data["id"], "merchant": merchant, "amount": data["amount"]},
        ]


def p2p(user: Any, intended: int) -> None:
    """A transfer to another user (drawn to be oneself: a balance read instead)."""
    other = user.rng.choice(user.accounts.users)
    if other.id == user.me.id:
        balance(user, intended)
        return
    user._transfer("p2p", user.token, user.me.id, other.id, user._amount(), intended, user.me.id)


def refundable(user: Any, intended: int) -> tuple[dict[str, Any], str] | None:
    """One of this user's recent payments (taken off the list) and a session of its merchant; None when
    the merchant cannot log in, or when there is no payment yet (then a balance read runs instead)."""
    if not user.payments:
        balance(user, intended)
        return None
    paid = user.payments.pop(user.rng.randrange(len(user.payments)))
    token = user.merchant_token(paid["merchant"])
    return None if token is None else (paid, token)


def refund(user: Any, intended: int) -> None:
    """The merchant of one of this user's recent payments refunds part of it (none yet: a balance read)."""
    got = refundable(user, intended)
    if got is None:
        return
    paid, token = got
    merchant = paid["merchant"]
    amount = user.rng.randint(1, paid["amount"])
    kind, data = user._transfer(
        "refund", token, merchant.id, user.me.id, amount, intended, merchant.id, refund_of=paid["id"]
    )
    if kind == "ok" and "id" in data:
        user.refunds = [*user.refunds[-9:], {"id": data["id"], "merchant": merchant, "amount": amount}]


def balance(user: Any, intended: int) -> None:
    """This user reads its own balance."""
    value = {"account": user.me.id, "as": user.me.id}
    headers = user._auth(user.token)
    user._call("balance", "GET", f"/v1/accounts/{user.me.id}", value, intended, headers=headers)


def login(user: Any, intended: int) -> None:
    """A fresh session (the old one is kept when the login fails)."""
    user.token = user._login(user.me, intended=intended) or user.token


def attack(user: Any, intended: int) -> None:
    """A password guess on an attack target (now and then its real owner logging in)."""
    targets = user.accounts.attack_targets
    if not targets:
        balance(user, intended)
        return
    target = user.rng.choice(targets)
    legit = user.rng.random() < 0.2
    user._login(target, "attack", None if legit else f"guess-{user.rng.randrange(10**6)}", intended)


def unauthorized(user: Any, intended: int) -> None:
    """A transfer out of another user's account with this user's session: must be refused."""
    victim = user.rng.choice(user.accounts.users)
    if victim.id == user.me.id:
        balance(user, intended)
        return
    user._transfer("unauthorized", user.token, victim.id, user.me.id, user._amount(), intended, user.me.id)


OPS: dict[str, Op] = {
    "pay": pay,
    "p2p": p2p,
    "refund": refund,
    "balance": balance,
    "login": login,
    "attack": attack,
    "unauthorized": unauthorized,
    "auth_probe": probes.auth_probe,
    "idempotency_probe": probes.idempotency_probe,
    "refund_probe": probes.refund_probe,
}
"""Every op the scenario's ``load.mix`` may name (``scenario.OpName``), and what it does."""
