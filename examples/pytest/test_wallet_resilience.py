"""An example of gating a wallet's release in your own pytest suite with walletchaos's pytest plugin (it
is active wherever walletchaos is installed):

    pytest examples/pytest --walletchaos-out runs

Each test runs a scenario through the `walletchaos` command and fails with the violated checks and their
evidence when the run is not VALID.
"""

from __future__ import annotations

import pytest


@pytest.mark.walletchaos("scenarios/smoke.yaml", seed=42)
def test_the_demo_scenario_holds(walletchaos_result):  # type: ignore[no-untyped-def]
    walletchaos_result.check()


def test_a_stored_run_is_judged_again(walletchaos):  # type: ignore[no-untyped-def]
    first = walletchaos.run("scenarios/smoke.yaml")
    first.check()
    again = walletchaos.analyze(first.run_dir)
    assert again.valid and again.verdict["stats"]["ops"] == first.verdict["stats"]["ops"]
