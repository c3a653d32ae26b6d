"""The pytest plugin's marker running a short live scenario end to end (real wallet, PostgreSQL, Toxiproxy,
HAProxy, Locust), as a user's own test suite would."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

SHORT = """\
name: plugin_live
wallet: {replicas: 2}
accounts: {users: 10, merchants: 2}
load:
  shape:
    - {phase: steady, for: 5s, users: 5, rate: 4}
faults:
  - {at: 1s, for: 2s, fault: network.latency, target: db, params: {latency: 20}}
"""


def test_the_marker_runs_a_live_scenario_and_passes(pytester: pytest.Pytester, tmp_path: Path) -> None:
    scenario = tmp_path / "plugin_live.yaml"
    scenario.write_text(SHORT)
    out = tmp_path / "runs"
    pytester.makepyfile(
        f"""
        import pytest

        @pytest.mark.walletchaos({str(scenario)!r}, seed=5)
        def test_gate(walletchaos_result):
            walletchaos_result.check()
            assert walletchaos_result.verdict["seed"] == 5
        """
    )
    result = pytester.runpytest_subprocess("--walletchaos-out", str(out))
    result.assert_outcomes(passed=1)
    assert (out / "plugin_live" / "latest" / "report.html").is_file()
