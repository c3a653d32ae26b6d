"""`walletchaos conform`: the black-box contract probe passes the reference wallet and the independent Go
wallet, and fails a broken variant naming the clauses it breaks."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tests.conftest import ADMIN, Wallet
from walletchaos.conform import conform

GOWALLET = Path(__file__).resolve().parents[2] / "tools" / "bin" / "gowallet"
GO_COMMAND = f"{GOWALLET} --host {{host}} --port {{port}} --database-url {{database_url}}"


def broken(wallet: Wallet) -> list[str]:
    return [f"{c.name}: {c.detail}" for c in conform(wallet.url, ADMIN) if not c.ok]


def test_the_reference_wallet_conforms(wallet: Wallet) -> None:
    clauses = conform(wallet.url, ADMIN)
    assert len(clauses) >= 25 and broken(wallet) == []


def test_the_independent_go_wallet_conforms(wallet_factory: Callable[..., Wallet]) -> None:
    assert broken(wallet_factory(command=GO_COMMAND)) == []


def test_a_wallet_that_applies_a_key_twice_fails_the_idempotency_clauses(
    wallet_factory: Callable[..., Wallet],
) -> None:
    failed = broken(wallet_factory(("double_apply",)))
    names = [f.split(": ")[0] for f in failed]
    assert "a resend with the same key and body answers the original 201" in names
    assert "concurrent sends of one key applied once" in names
    resend = next(f for f in failed if f.startswith("a resend"))
    assert "POST /v1/transfers" in resend and "-> 201" in resend  # the request and the response that broke it


def test_a_wallet_that_ignores_the_session_signature_fails_the_auth_clause(
    wallet_factory: Callable[..., Wallet],
) -> None:
    names = [f.split(": ")[0] for f in broken(wallet_factory(("accept_tampered_token",)))]
    assert names == ["a tampered session token is 401"]


def test_the_cli_exits_0_on_a_conforming_wallet_and_1_naming_the_clause_otherwise(
    wallet_factory: Callable[..., Wallet],
) -> None:
    env = {**os.environ, "CONFORM_ADMIN": ADMIN}
    cli = [sys.executable, "-m", "walletchaos", "conform", "--admin-token-env", "CONFORM_ADMIN", "--quick"]
    good = subprocess.run([*cli, wallet_factory().url], capture_output=True, text=True, env=env, timeout=60)
    assert good.returncode == 0 and "FAIL" not in good.stdout, good.stdout
    bad = wallet_factory(("double_apply",)).url
    done = subprocess.run([*cli, bad], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 1 and "FAIL a resend with the same key and body" in done.stdout, done.stdout
    wrong = subprocess.run([*cli, "http://10.1.2.3:80"], capture_output=True, text=True, env=env, timeout=60)
    assert wrong.returncode == 254 and "url: expected http://127.0.0.1:PORT" in wrong.stderr, wrong.stderr
