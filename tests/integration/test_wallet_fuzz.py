"""The reference wallet under a schema-driven fuzzer: schemathesis (pinned in the dev dependencies) runs
every check, stateful included, against a live wallet as admin, as a user and anonymously. Any 5xx, any
response outside the OpenAPI document, any schema-valid request refused or invalid one accepted fails.
About 5,000 cases here; `bench/` is the place for a longer campaign.

The three campaigns run at once, each against a wallet of its own: schemathesis spends its time generating
cases under one interpreter lock (~1 core), so one after the other they took ~4.5 minutes of a CI run on
this 2-core machine, and side by side they share both cores."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tests.conftest import ADMIN, Wallet

ST = Path(sys.executable).with_name("st")
CONFIG = """\
# Schema-valid requests the wallet's rules refuse (unknown account, insufficient funds, a reused key, a
# locked account, a risk limit) are definite answers of the contract, not a schema mismatch.
[checks.positive_data_acceptance]
expected-statuses = ["2xx", "401", "403", "404", "409", "422", "423", "429"]
"""
CAMPAIGNS = {"admin": 300, "user": 300, "anonymous": 100}
"""Who fuzzes, with how many examples per operation and phase."""


def fuzz(wallet: Wallet, token: str | None, examples: int, cwd: Path) -> subprocess.Popen[bytes]:
    """A schemathesis run against ``wallet``, started (its output in ``cwd``: files, never a pipe that a
    campaign could fill while the test waits on another)."""
    headers = ["-H", f"Authorization: Bearer {token}"] if token else []
    (cwd / "schemathesis.toml").write_text(CONFIG)
    argv = [str(ST), "run", f"{wallet.url}/openapi.json", "--checks", "all", "--max-examples", str(examples)]
    with (cwd / "stdout").open("w") as out, (cwd / "stderr").open("w") as err:
        argv += ["--workers", "2", "--seed", "1", "--no-color", *headers]
        return subprocess.Popen(argv, stdout=out, stderr=err, cwd=cwd)


def test_the_fuzzer_finds_no_server_error_and_no_schema_violation(
    wallet_factory: Callable[..., Wallet], tmp_path: Path
) -> None:
    started: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for who, examples in CAMPAIGNS.items():
            wallet = wallet_factory()
            wallet.accounts(("fuzzy", 1_000_000, "user"), ("shop", 0, "merchant"))
            token = {"admin": ADMIN, "anonymous": None}.get(who)
            if who == "user":
                token = wallet.login("fuzzy").headers["Authorization"].split()[1]
            (tmp_path / who).mkdir()
            started[who] = fuzz(wallet, token, examples, tmp_path / who)
        failed = {}
        for who, proc in started.items():
            proc.wait(timeout=400)
            out, err = ((tmp_path / who / name).read_text() for name in ("stdout", "stderr"))
            summary = out.split("SUMMARY")[-1].lower()
            if proc.returncode != 0 or " passed" not in out or "failures" in summary:
                failed[who] = out[-6000:] + err[-2000:]
        assert not failed, "\n\n".join(
            f"--- {who} (exit {started[who].returncode}):\n{t}" for who, t in failed.items()
        )
    finally:
        for proc in started.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
