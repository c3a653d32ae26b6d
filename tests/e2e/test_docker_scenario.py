"""A whole shipped scenario on the docker runtime, unchanged; nothing labelled is left afterwards."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import judged_apart_from_expectations
from walletchaos.errors import InfraError
from walletchaos.stack.containers import LABEL, engine

pytestmark = pytest.mark.docker


def test_db_outage_passes_on_docker_and_leaves_no_container(tmp_path: Path) -> None:
    try:
        client = engine()
    except InfraError as exc:
        pytest.skip(f"DOCKER ENGINE UNAVAILABLE, docker runtime NOT TESTED: {exc}")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "walletchaos",
            "run",
            "scenarios/db_outage.yaml",
            "--runtime",
            "docker",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=500,
        check=False,
    )
    verdict = json.loads((tmp_path / "latest" / "verdict.json").read_text())
    assert done.returncode == 0, [
        (r["name"], r["summary"]) for r in verdict["results"] if r["valid"] != "valid"
    ]
    assert verdict["runtime"] == "docker" and verdict["versions"]["runtime"] == "docker"
    assert verdict["versions"]["postgresql"].startswith("postgres (PostgreSQL) 15"), verdict["versions"]
    assert (tmp_path / "latest" / "logs" / "postgres.log").stat().st_size > 0
    assert client.containers.list(all=True, filters={"label": LABEL}) == []


def test_your_own_image_runs_is_judged_and_a_second_tag_is_rolled_on_and_back(tmp_path: Path) -> None:
    """The example Go wallet's image stands in for a user's: the demo scenario with only the wallet block
    changed, on docker, with a deploy of another tag of it (read back from the container) and back."""
    try:
        client = engine()
    except InfraError as exc:
        pytest.skip(f"DOCKER ENGINE UNAVAILABLE, docker runtime NOT TESTED: {exc}")
    client.images.get("walletchaos/gowallet:latest").tag("walletchaos/gowallet", "candidate")
    data = yaml.safe_load(Path("scenarios/smoke.yaml").read_text())
    data["wallet"]["image"] = "walletchaos/gowallet:latest"
    data["runtime"] = "docker"
    data["faults"].append(
        {
            "at": "15s",
            "for": "5s",
            "fault": "deploy",
            "target": "wallet",
            "params": {"image": "walletchaos/gowallet:candidate"},
        }
    )
    scenario = tmp_path / "smoke_image.yaml"
    scenario.write_text(yaml.safe_dump(data))
    done = subprocess.run(
        [sys.executable, "-m", "walletchaos", "run", str(scenario), "--out", str(tmp_path / "runs")],
        capture_output=True,
        text=True,
        timeout=500,
        check=False,
    )
    run_dir = (tmp_path / "runs" / "latest").resolve()
    verdict = json.loads((run_dir / "verdict.json").read_text())
    assert judged_apart_from_expectations(verdict, done.returncode) == []
    records = [json.loads(line) for line in (run_dir / "history.jsonl").read_text().splitlines()]
    deploys = [
        r["value"]["result"]
        for r in records
        if r.get("process") == "nemesis" and r["type"] == "ok" and r["value"].get("fault") == "deploy"
    ]
    assert deploys[0]["running"]["wallet0"] == {"image": "walletchaos/gowallet:candidate"}
    assert deploys[1]["running"]["wallet1"] == {"image": "walletchaos/gowallet:latest"}
    assert json.loads((run_dir / "conform.json").read_text()) and verdict["stats"]["ops"] > 1000
    assert client.containers.list(all=True, filters={"label": LABEL}) == []
