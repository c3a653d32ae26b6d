"""The workload's op functions with a fake user (no Locust, no HTTP): what each op sends, and that the
table covers exactly the op names a scenario's mix may use."""

from __future__ import annotations

import random
import typing
from typing import Any

from walletchaos.load.config import Account, Accounts
from walletchaos.load.workload import OPS
from walletchaos.scenario import OpName


class FakeUser:
    """What the workload asks of a user, answering every transfer ok (ids t0, t1, ...)."""

    def __init__(self, seed: int = 1, hot: float = 0.0, attack_targets: int = 0) -> None:
        users = [Account(id=f"u{i}", username=f"u{i}", password="p") for i in range(3)]
        merchants = [Account(id=f"m{i}", username=f"m{i}", password="p") for i in range(4)]
        targets = [Account(id=f"a{i}", username=f"a{i}", password="p") for i in range(attack_targets)]
        self.accounts = Accounts(
            users=users, merchants=merchants, attack_targets=targets, hot_merchant_share=hot
        )
        self.rng = random.Random(seed)
        self.me = users[0]
        self.token: str | None = "tok"
        self.payments: list[dict[str, Any]] = []
        self.refunds: list[dict[str, Any]] = []
        self.sent: list[tuple[Any, ...]] = []

    def _transfer(
        self,
        f: str,
        token: Any,
        src: Any,
        dst: Any,
        amount: int,
        intended: int,
        acting_as: Any,
        refund_of: Any = None,
    ) -> tuple[str, dict[str, Any]]:
        self.sent.append((f, token, src, dst, amount, acting_as, refund_of))
        return "ok", {"id": f"t{len(self.sent) - 1}", "amount": amount}

    def _call(self, f: str, method: str, path: str, value: dict[str, Any], intended: int, **kw: Any) -> Any:
        self.sent.append((f, method, path, value["account"]))
        return "ok", 200, {}

    def _login(
        self, account: Account, f: str = "login", password: str | None = None, intended: int = 0
    ) -> str | None:
        self.sent.append((f, account.id, password is None))
        return None if f == "attack" else "fresh"

    def _auth(self, token: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"} if token else {}

    def merchant_token(self, merchant: Account) -> str | None:
        return f"tok-{merchant.id}"

    def _amount(self) -> int:
        return 7


def test_the_table_covers_exactly_the_op_names_a_mix_may_use() -> None:
    assert set(OPS) == set(typing.get_args(OpName))


def test_a_hot_merchant_gets_its_share_of_payments() -> None:
    user = FakeUser(hot=0.5)
    for _ in range(2000):
        OPS["pay"](user, 0)
    to = [dst for f, _, _, dst, *_ in user.sent if f == "pay"]
    share = to.count("m0") / len(to)
    assert 0.55 < share < 0.70, share  # half hot, plus merchant 0's quarter of the rest
    assert len(user.payments) == 20, "the recent payments kept for refunds are bounded"


def test_a_refund_comes_from_the_merchant_of_a_recent_payment_and_refers_to_it() -> None:
    user = FakeUser()
    OPS["refund"](user, 0)
    assert user.sent == [("balance", "GET", "/v1/accounts/u0", "u0")], "no payment yet: a balance read"
    OPS["pay"](user, 0)
    _f, _, _, merchant, amount, *_ = user.sent[-1]
    OPS["refund"](user, 0)
    kind, token, src, dst, refunded, acting_as, refund_of = user.sent[-1]
    assert (kind, token, src, dst, acting_as) == ("refund", f"tok-{merchant}", merchant, "u0", merchant)
    assert refund_of == "t1" and 1 <= refunded <= amount and not user.payments
    assert user.refunds == [
        {"id": "t2", "merchant": user.accounts.merchants[int(merchant[1:])], "amount": refunded}
    ]


def test_ops_that_would_target_oneself_or_nobody_read_the_balance_instead() -> None:
    user = FakeUser(seed=3, attack_targets=0)
    OPS["attack"](user, 0)
    assert user.sent[-1][0] == "balance"
    picks = set()
    for _ in range(50):
        OPS["unauthorized"](user, 0)
        picks.add(user.sent[-1][0])
        if user.sent[-1][0] == "unauthorized":
            assert user.sent[-1][2] != "u0" and user.sent[-1][3] == "u0", "from a victim, to oneself"
    assert picks == {"balance", "unauthorized"}
    OPS["login"](user, 0)
    assert user.token == "fresh"
