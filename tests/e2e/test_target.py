"""A wallet already running on this host, given as ``target.url``: the harness puts an ingress proxy in
front of it and judges only this run's accounts, so runs sharing one long-lived wallet are each judged
right. Here the long-lived wallet is a reference wallet the test starts on its own PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_scenarios import CLI, leftovers
from walletchaos.stack.postgres import PostgresCluster
from walletchaos.stack.proc import free_port
from walletchaos.stack.wallet import WalletProcess

TOKEN = "long-lived-wallet-admin-token"
SETTINGS = {"lockout_window_s": 30, "lockout_duration_s": 3}


GOWALLET = Path(__file__).resolve().parents[2] / "tools" / "bin" / "gowallet"


@pytest.fixture(scope="module", params=["reference", "gowallet"])
def long_lived(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A wallet that outlives the runs: the reference wallet, or the example Go wallet started by hand."""
    cluster = PostgresCluster.fresh(free_port())
    cluster.init()
    command = None
    if request.param == "gowallet":
        command = f"{GOWALLET} --host {{host}} --port {{port}} --database-url {{database_url}}"
    log = tmp_path_factory.mktemp("w") / "wallet.log"
    wallet = WalletProcess("wallet0", free_port(), cluster.dsn, TOKEN, log, (), SETTINGS, command)
    try:
        wallet.start(ready=True)
        yield wallet.url
    finally:
        wallet.stop()
        cluster.destroy()


def scenario(tmp_path: Path, url: str, env: str = "WC_TARGET_ADMIN", extra: str = "") -> Path:
    path = tmp_path / "target.yaml"
    path.write_text(f"""\
name: target_smoke
seed: 11
target: {{url: "{url}", admin_token_env: {env}}}
wallet: {{settings: {{lockout_window_s: 30, lockout_duration_s: 3}}, start_timeout: 2s}}
accounts: {{users: 30, merchants: 3, attack_targets: 1}}
load:
  shape: [{{phase: flat, for: 12s, users: 12, rate: 4}}]
faults:
  - {{at: 3s, for: 3s, fault: network.latency, target: ingress, params: {{latency: 40}}}}
slo:
  recovery: {{max: 5s, success: 0.9, hold: 1s}}
{extra}""")
    return path


def run(path: Path, out: Path, token: str | None = TOKEN) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "WC_TARGET_ADMIN"}
    if token is not None:
        env["WC_TARGET_ADMIN"] = token
    return subprocess.run(
        [*CLI, "run", str(path), "--out", str(out)], capture_output=True, text=True, timeout=300, env=env
    )


def test_two_same_seed_runs_against_one_long_lived_wallet_are_both_judged_valid(
    tmp_path: Path, long_lived: str
) -> None:
    before = leftovers()
    path = scenario(tmp_path, long_lived)
    verdicts = []
    for n in range(2):
        done = run(path, tmp_path / f"runs{n}")
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
        run_dir = (tmp_path / f"runs{n}" / "latest").resolve()
        verdicts.append(json.loads((run_dir / "verdict.json").read_text()))
        meta = json.loads((run_dir / "run.json").read_text())
        assert meta["versions"]["runtime"] == "target" and meta["versions"]["target"] == long_lived
        recovery = [r for r in verdicts[-1]["results"] if r["name"].startswith("recovery: ")]
        assert len(recovery) == 1 and recovery[0]["valid"] == "valid", recovery  # the lag took effect
        shared = json.loads((run_dir / "audit.json").read_text())["snapshot"]["accounts"]
        assert len(shared) == (34 + 3) * (n + 1)  # each run: 34 accounts + the 3 of its conformance probe
    assert all(v["valid"] == "valid" and v["stats"]["ops"] > 200 for v in verdicts)
    assert leftovers() <= before


def test_a_target_that_is_missing_refused_or_silent_stops_before_any_load(
    tmp_path: Path, long_lived: str
) -> None:
    path = scenario(tmp_path, long_lived)
    missing = run(path, tmp_path / "a", token=None)
    assert missing.returncode == 254 and "$WC_TARGET_ADMIN is not set" in missing.stderr, missing.stderr
    wrong = run(path, tmp_path / "b", token="not-the-token")
    assert wrong.returncode == 254 and "$WC_TARGET_ADMIN is refused by" in wrong.stderr, wrong.stderr
    silent = run(scenario(tmp_path, f"http://127.0.0.1:{free_port()}"), tmp_path / "c")
    assert silent.returncode == 255 and "GET /readyz did not answer 200 within 2s" in silent.stderr
    assert not any((tmp_path / d).exists() for d in "abc")  # nothing started, no run directory
