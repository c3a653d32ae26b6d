"""The reference wallet under a schema-driven fuzzer: schemathesis (pinned in the dev dependencies) runs
every check, stateful included, against a live wallet as admin, as a user and anonymously. Any 5xx, any
response outside the OpenAPI document, any schema-valid request refused or invalid one accepted fails.
About 5,000 cases here; `bench/` is the place for a longer campaign."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ADMIN, Wallet

ST = Path(sys.executable).with_name("st")
CONFIG = """\
# Schema-valid requests the wallet's rules refuse (unknown account, insufficient funds, a reused key, a
# locked account, a risk limit) are definite answers of the contract, not a schema mismatch.
[checks.positive_data_acceptance]
expected-statuses = ["2xx", "401", "403", "404", "409", "422", "423", "429"]
"""


def fuzz(
    wallet: Wallet, token: str | None, examples: int, tmp_path: Path
) -> subprocess.CompletedProcess[str]:
    headers = ["-H", f"Authorization: Bearer {token}"] if token else []
    (tmp_path / "schemathesis.toml").write_text(CONFIG)
    argv = [str(ST), "run", f"{wallet.url}/openapi.json", "--checks", "all", "--max-examples", str(examples)]
    return subprocess.run(
        [*argv, "--workers", "2", "--seed", "1", "--no-color", *headers],
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
        cwd=tmp_path,
    )


@pytest.mark.parametrize(("who", "examples"), [("admin", 300), ("user", 300), ("anonymous", 100)])
def test_the_fuzzer_finds_no_server_error_and_no_schema_violation(
    wallet: Wallet, who: str, examples: int, tmp_path: Path
) -> None:
    wallet.accounts(("fuzzy", 1_000_000, "user"), ("shop", 0, "merchant"))
    token = {"admin": ADMIN, "anonymous": None}.get(who)
    if who == "user":
        token = wallet.login("fuzzy").headers["Authorization"].split()[1]
    done = fuzz(wallet, token, examples, tmp_path)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert " passed" in done.stdout and "failures" not in done.stdout.split("SUMMARY")[-1].lower()
