"""The defect matrix: every defect of the reference wallet's catalog run through a shipped scenario, and the
checks that caught it. A defect no check catches, or caught only by another check than the catalog names,
is printed as such. Not part of `make test` (about 40 s a defect); the README shows the latest table.

    .venv/bin/python bench/defect_matrix.py [DEFECT ...]
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import _child
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from reference_wallet.defects import CATALOG  # noqa: E402

# defect -> (shipped scenario, changes to it) chosen so that the defect's trigger happens in the run
SETUPS: dict[str, tuple[str, dict[str, Any]]] = {
    "lost_update": ("flash_sale", {}),
    "double_apply": ("bad_deploy", {}),
    "non_atomic": ("smoke", {}),
    "ack_before_commit": ("smoke", {}),
    "stale_read": ("smoke", {}),
    "no_db_timeouts": ("db_blackhole", {}),
    "no_lockout": ("lockout_attack", {}),
    "crash_on_start": ("smoke", {}),
    "audit_lies": ("smoke", {}),
    "transient_overdraft": ("smoke", {"accounts": {"user_balance": 1500}}),
    "lock_never_released": ("lockout_attack", {}),
    "ack_without_apply": ("smoke", {}),
    "over_refund": ("smoke", {}),
    "accept_tampered_token": ("smoke", {}),
    # the defect needs a retry of a key its replica saw but did not apply: a client that gives up (300 ms)
    # before a starved pool (2 connections, 400 ms acquire timeout) refuses, then retries on the same
    # replica (pinned: the defect remembers keys per process)
    "retry_wrong_amount": (
        "smoke",
        {
            "load": {"client_timeout": "300ms", "retries": 3},
            "wallet": {"balancer": "none", "settings": {"pool_size": 2}},
        },
    ),
}


def scenario_for(defect: str, work: Path) -> Path:
    name, changes = SETUPS[defect]
    doc = yaml.safe_load((ROOT / "scenarios" / f"{name}.yaml").read_text())
    for key, value in changes.items():
        doc[key] = {**doc.get(key, {}), **value}
    if name == "bad_deploy":
        doc["faults"][0]["params"]["defects"] = [defect]
    else:
        doc.setdefault("wallet", {})["defects"] = [defect]
    doc["name"] = f"matrix_{defect}"
    path = work / f"{defect}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def run(defect: str, work: Path) -> tuple[int, list[str]]:
    out = work / "runs"
    done = _child.run(
        [sys.executable, "-m", "walletchaos", "run", str(scenario_for(defect, work)), "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    verdict = out / "latest" / "verdict.json"
    if done.returncode == 1 and "exited during start-up" in done.stdout:
        return 1, ["wallet start (exit 1)"]  # the catalog's name for it
    if not verdict.exists():
        return done.returncode, []
    results = json.loads(verdict.read_text())["results"]
    return done.returncode, [r["name"] for r in results if r["valid"] == "invalid"]


def main(defects: list[str]) -> int:
    work = _child.workdir("wc-matrix-")
    missed = 0
    print("| defect | scenario | exit | caught by | catalog names |")
    print("|---|---|---|---|---|")
    for defect in defects or list(CATALOG):
        code, caught = run(defect, work)
        expected = {n.strip() for n in CATALOG[defect].caught_by.split(",")}
        named = any(c == e or c.startswith(e) for c in caught for e in expected)
        missed += not named
        mark = "" if named else " **(not by a named check)**"
        line = f"| {defect} | {SETUPS[defect][0]} | {code} | {', '.join(caught) or 'nothing'}{mark} |"
        print(f"{line} {CATALOG[defect].caught_by} |", flush=True)
    print(
        f"\n{len(defects or CATALOG) - missed} of {len(defects or CATALOG)} defects caught by a named check"
    )
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
