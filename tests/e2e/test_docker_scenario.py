"""A whole shipped scenario on the docker runtime, unchanged; nothing labelled is left afterwards."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

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
    assert (tmp_path / "latest" / "logs" / "postgres.log").stat().st_size > 0
    assert client.containers.list(all=True, filters={"label": LABEL}) == []
