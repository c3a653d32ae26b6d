"""walletchaos inside pytest (entry point ``pytest11``, active wherever walletchaos is installed).

    @pytest.mark.walletchaos("scenarios/smoke.yaml", seed=42)
    def test_smoke(walletchaos_result):
        walletchaos_result.check()          # fails with the violated checks and their evidence

    def test_stored_run(walletchaos):
        walletchaos.analyze("runs/smoke/latest").check()

``walletchaos`` runs a scenario (``.run(path, seed=, runtime=)``) or re-judges a stored run
(``.analyze(run_dir)``) through the ``walletchaos`` command itself, in its own process, as a user would:
Locust's gevent patching and the harness's signal handling stay out of the test process. Run directories
go under ``--walletchaos-out DIR`` (default: pytest's temporary directory). A run that is not VALID fails
``check()``; one that could not be judged (exit 2, 254, 255) fails it too, with the command's own words.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

MARK = "walletchaos"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("walletchaos")
    group.addoption(
        "--walletchaos-out",
        default=None,
        help="where walletchaos run directories go (default: pytest's temporary directory)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARK}(scenario, seed=None, runtime=None): run the scenario for the walletchaos_result fixture",
    )


@dataclass(frozen=True)
class Judged:
    """One judged run: the verdict document (verdict.json's schema) and the command's exit code."""

    exit_code: int
    verdict: dict[str, Any] | None
    output: str

    @property
    def valid(self) -> bool:
        return self.exit_code == 0 and self.verdict is not None and self.verdict.get("valid") == "valid"

    @property
    def run_dir(self) -> Path | None:
        where = (self.verdict or {}).get("run_dir")
        return Path(where) if where else None

    def violated(self) -> list[dict[str, Any]]:
        return [r for r in (self.verdict or {}).get("results", []) if r.get("valid") == "invalid"]

    def explain(self) -> str:
        """The violated checks with their evidence, or why there is no verdict."""
        if self.verdict is None or "results" not in self.verdict:
            return f"walletchaos exited {self.exit_code} without a verdict:\n{self.output.strip()[-3000:]}"
        v = self.verdict
        lines = [f"walletchaos: {v.get('scenario')} is {str(v.get('valid')).upper()} (exit {self.exit_code})"]
        for r in self.violated():
            lines.append(f"  {r['name']}: {r['summary']}")
            for label in ("first", "worst", "last"):
                if r.get(label) is not None:
                    lines.append(f"    {label}: {json.dumps(r[label], default=str)[:600]}")
        unknown = [r for r in v.get("results", []) if r.get("valid") == "unknown"]
        lines += [f"  unknown: {r['name']}: {r['summary']}" for r in unknown]
        lines.append(f"  run directory: {v.get('run_dir')}")
        if v.get("rerun"):
            lines.append(f"  re-run: {v['rerun']}")
        return "\n".join(lines)

    def check(self) -> None:
        """Fail the test unless the run is VALID, with the evidence as the message."""
        if not self.valid:
            raise AssertionError(self.explain())


class WalletChaos:
    def __init__(self, out: Path) -> None:
        self.out = out

    def _cli(self, *args: str, timeout_s: float) -> Judged:
        done = subprocess.run(
            [sys.executable, "-m", "walletchaos", *args, "--json"],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
        try:
            verdict = json.loads(done.stdout)
        except ValueError:
            verdict = None
        return Judged(done.returncode, verdict, done.stderr + done.stdout)

    def run(
        self,
        scenario: str | Path,
        seed: int | None = None,
        runtime: str | None = None,
        timeout_s: float = 1800,
    ) -> Judged:
        """``walletchaos run SCENARIO`` into this session's output directory."""
        args = ["run", str(scenario), "--out", str(self.out)]
        args += ["--seed", str(seed)] if seed is not None else []
        args += ["--runtime", runtime] if runtime else []
        return self._cli(*args, timeout_s=timeout_s)

    def analyze(self, run_dir: str | Path, timeout_s: float = 600) -> Judged:
        """Re-judge a stored run directory (no service is started)."""
        judged = self._cli("analyze", str(run_dir), timeout_s=timeout_s)
        if judged.verdict is not None and "results" in judged.verdict:
            return Judged(judged.exit_code, {**judged.verdict, "run_dir": str(run_dir)}, judged.output)
        return judged


@pytest.fixture(scope="session")
def walletchaos(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> WalletChaos:
    out = request.config.getoption("--walletchaos-out")
    return WalletChaos(Path(out) if out else tmp_path_factory.mktemp("walletchaos-runs"))


@pytest.fixture
def walletchaos_result(request: pytest.FixtureRequest, walletchaos: WalletChaos) -> Judged:
    """The run of the scenario named by the test's ``walletchaos`` marker."""
    marker = request.node.get_closest_marker(MARK)
    if marker is None or not marker.args:
        raise pytest.UsageError(f'walletchaos_result needs @pytest.mark.{MARK}("path/to/scenario.yaml")')
    return walletchaos.run(marker.args[0], marker.kwargs.get("seed"), marker.kwargs.get("runtime"))
