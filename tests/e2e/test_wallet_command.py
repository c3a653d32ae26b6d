"""Any wallet by its command line: the harness starts it once per replica against its own throwaway
PostgreSQL behind the db proxy, and every fault family applies (deploy rolls a second command onto the
replicas and back). Here the command is the reference wallet's own, written as a user would write theirs."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from tests.conftest import judged_apart_from_expectations
from tests.e2e.test_scenarios import leftovers, run_cli

GOWALLET = Path(__file__).resolve().parents[2] / "tools" / "bin" / "gowallet"

COMMAND = (
    "{python} -m reference_wallet --host {host} --port {port} --database-url {database_url}"
    " --set kdf_log2_n=10 --set lockout_window_s=30 --set lockout_duration_s=3"
)
SCENARIO = f"""\
name: smoke_command
wallet:
  replicas: 2
  command: "{COMMAND}"
  settings: {{lockout_window_s: 30, lockout_duration_s: 3}}
accounts: {{users: 30, merchants: 3, attack_targets: 1}}
load:
  shape: [{{phase: flat, for: 14s, users: 12, rate: 4}}]
faults:
  - {{at: 3s, for: 3s, fault: network.latency, target: db, params: {{latency: 40}}}}
  - {{at: 7s, for: 2s, fault: process.kill, target: "wallet[1]"}}
slo:
  recovery: {{max: 5s, success: 0.9, hold: 1s}}
"""


def test_a_wallet_given_as_a_command_is_run_faulted_and_judged(tmp_path: Path) -> None:
    before = leftovers()
    scenario = tmp_path / "smoke_command.yaml"
    scenario.write_text(SCENARIO)
    done = run_cli("run", str(scenario), out=tmp_path / "runs")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    run_dir = (tmp_path / "runs" / "latest").resolve()
    verdict = json.loads((run_dir / "verdict.json").read_text())
    assert verdict["valid"] == "valid" and verdict["stats"]["ops"] > 300
    assert "schema ready" in (run_dir / "logs" / "wallet1.log").read_text()  # started by its command
    assert leftovers() <= before


def test_a_shipped_scenario_runs_against_an_independent_wallet_by_changing_only_the_wallet_block(
    tmp_path: Path,
) -> None:
    """The example Go wallet (examples/wallets/gowallet: UUID ids, pgx, no shared code) under the demo."""
    before = leftovers()
    assert GOWALLET.exists(), "make setup builds tools/bin/gowallet"
    data = yaml.safe_load(Path("scenarios/smoke.yaml").read_text())
    data["wallet"]["command"] = f"{GOWALLET} --host {{host}} --port {{port}} --database-url {{database_url}}"
    scenario = tmp_path / "smoke_go.yaml"
    scenario.write_text(yaml.safe_dump(data))
    done = run_cli("run", str(scenario), out=tmp_path / "runs")
    run_dir = (tmp_path / "runs" / "latest").resolve()
    verdict = json.loads((run_dir / "verdict.json").read_text())
    assert judged_apart_from_expectations(verdict, done.returncode) == [], done.stderr[-2000:]
    assert verdict["stats"]["ops"] > 1000
    money = ("conservation", "durability", "exactly_once", "answers_match_ledger", "balances_match_ledger")
    judged = {r["name"]: r for r in verdict["results"]}
    assert all(judged[n]["valid"] == "valid" and judged[n]["exercised"] > 0 for n in money), judged
    assert "schema ready" in (run_dir / "logs" / "wallet0.log").read_text()
    setup = json.loads((run_dir / "history.jsonl").read_text().splitlines()[1])
    assert setup["f"] == "accounts" and len(setup["value"]["accounts"][0]["id"]) == 36  # UUID ids
    assert leftovers() <= before


BROKEN_RELEASE = COMMAND + " --defects double_apply"


def test_a_deploy_rolls_a_second_command_on_and_off_and_the_judge_catches_it(tmp_path: Path) -> None:
    """The release under test is another command line (here: a build with a broken idempotency check)."""
    before = leftovers()
    scenario = tmp_path / "release.yaml"
    deploy = f'{{at: 6s, for: 9s, fault: deploy, target: wallet, params: {{command: "{BROKEN_RELEASE}"}}}}'
    scenario.write_text(
        SCENARIO.replace("smoke_command", "release")
        .replace("for: 14s, users: 12, rate: 4", "for: 20s, users: 24, rate: 4")
        .replace(
            '  - {at: 7s, for: 2s, fault: process.kill, target: "wallet[1]"}',
            f"  - {deploy}",
        )
        .replace("load:\n", "load:\n  retries: 2\n  duplicate_submit: 0.1\n")
    )
    done = run_cli("run", str(scenario), out=tmp_path / "runs")
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-2000:]
    run_dir = (tmp_path / "runs" / "latest").resolve()
    verdict = json.loads((run_dir / "verdict.json").read_text())
    assert "exactly_once" in {r["name"] for r in verdict["results"] if r["valid"] == "invalid"}
    records = [json.loads(line) for line in (run_dir / "history.jsonl").read_text().splitlines()]
    done_by = {r["f"]: r for r in records if r.get("process") == "nemesis" and r["type"] in ("ok", "info")}
    assert done_by["apply"]["type"] == done_by["heal"]["type"] == "ok", done_by
    applied, healed = done_by["apply"]["value"]["result"], done_by["heal"]["value"]["result"]
    assert applied["rolled_out"] == ["wallet0", "wallet1"] and applied["command"] == BROKEN_RELEASE
    assert applied["running"]["wallet1"] == {"command": BROKEN_RELEASE}  # read back from /proc
    assert healed["running"]["wallet0"] == {"command": COMMAND}
    assert leftovers() <= before


def test_a_wallet_command_that_never_becomes_ready_is_255_with_its_log(tmp_path: Path) -> None:
    before = leftovers()
    scenario = tmp_path / "deaf.yaml"
    scenario.write_text("""\
name: deaf
wallet: {command: "{python} -m http.server --bind {host} {port}", start_timeout: 2s}
accounts: {users: 4, merchants: 1, attack_targets: 0}
load:
  shape: [{phase: p, for: 5s, users: 2}]
""")
    done = run_cli("run", str(scenario), out=tmp_path / "runs", timeout=120)
    assert done.returncode == 255, done.stdout + done.stderr
    assert "wallet0" in done.stderr and "/readyz" in done.stderr and "GET /readyz" in done.stderr
    assert leftovers() <= before


def test_a_wallet_that_does_not_speak_the_contract_is_stopped_before_the_load_naming_the_clause(
    tmp_path: Path,
) -> None:
    before = leftovers()
    scenario = tmp_path / "off_contract.yaml"
    scenario.write_text(SCENARIO.replace(COMMAND, BROKEN_RELEASE).replace("smoke_command", "off_contract"))
    done = run_cli("run", str(scenario), out=tmp_path / "runs", timeout=120)
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-2000:]
    assert "does not speak contract v1" in done.stdout
    assert "a resend with the same key and body answers the original 201" in done.stdout
    run_dir = (tmp_path / "runs" / "latest").resolve()
    clauses = json.loads((run_dir / "conform.json").read_text())
    assert any(not c["ok"] for c in clauses) and not (run_dir / "verdict.json").exists()
    history = (run_dir / "history.jsonl").read_text()
    assert '"f":"pay"' not in history  # no load ran
    assert leftovers() <= before
