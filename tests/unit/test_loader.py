"""Scenario loading: every problem at once, each located as file:line:col with the field path."""

from __future__ import annotations

from pathlib import Path

import pytest

from walletchaos.errors import ScenarioError
from walletchaos.loader import load_scenario
from walletchaos.plan import make_plan

GOOD = """\
name: t
load:
  shape:
    - {phase: base, for: 10s, users: 5}
faults:
  - {at: 2s, for: 3s, fault: network.latency, target: db, params: {latency: 20}}
"""


def problems(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "s.yaml"
    path.write_text(text)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert info.value.exit_code == 254
    return [p.replace(str(path), "s.yaml") for p in info.value.problems]


def test_good_scenario_loads(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text(GOOD)
    s = load_scenario(tmp_path / "s.yaml")
    assert s.load.duration == 10 and s.faults[0].for_ == 3


def test_every_error_is_reported_at_once_with_line_column_and_field(tmp_path: Path) -> None:
    text = """\
name: t
seeed: 3
load:
  shape:
    - {phase: base, for: 30 sec, users: 5}
faults:
  - {at: 2s, for: 3s, fault: network.latancy, target: db}
  - {at: 2s, for: 3s, fault: process.kill, target: mars}
"""
    got = problems(tmp_path, text)
    assert "s.yaml:2:1: seeed: unknown field; did you mean 'seed'?" in got[0]
    assert (
        got[1].startswith("s.yaml:5:")
        and "load.shape[0].for: expected a time span like 500ms, 30s, 2m" in got[1]
    )
    assert "got '30 sec'" in got[1]
    assert (
        got[2].startswith("s.yaml:7:")
        and "faults[0].fault: unknown fault 'network.latancy'; did you mean 'network.latency'?" in got[2]
    )
    assert (
        got[3].startswith("s.yaml:8:")
        and "faults[1].target: 'mars' is not a target of process faults" in got[3]
    )
    assert len(got) == 4


def test_missing_fields_and_bad_params(tmp_path: Path) -> None:
    text = """\
name: t
faults:
  - {at: 2s, for: 3s, fault: network.latency, target: db, params: {latency: -1, lag: 3}}
  - {at: 1s, for: 1s, fault: deploy, target: wallet, params: {defects: [nope]}}
"""
    got = problems(tmp_path, text)
    assert any(p.startswith("s.yaml:1:1: load: required field is missing") for p in got)
    assert any("faults[0].params: unknown parameter 'lag'" in p for p in got)
    assert any("faults[0].params: latency must be a non-negative integer" in p for p in got)
    assert any("faults[1].params: unknown defect 'nope'" in p for p in got)


def test_fault_after_the_load_ends(tmp_path: Path) -> None:
    got = problems(tmp_path, GOOD.replace("at: 2s", "at: 12s"))
    assert any("faults[0].at: starts at 12s but the load shape ends at 10s" in p for p in got)


def test_invalid_yaml_is_located(tmp_path: Path) -> None:
    got = problems(tmp_path, "name: t\nload: [unclosed\n")
    assert got[0].startswith("s.yaml:3:1: invalid YAML")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="cannot read"):
        load_scenario(tmp_path / "nope.yaml")


def test_shipped_scenarios_are_valid() -> None:
    for path in sorted(Path("scenarios").glob("*.yaml")):
        scenario = load_scenario(path)
        assert scenario.description.strip(), f"{path} must say what it proves"


def test_same_seed_same_plan_and_ranges_follow_the_seed(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text(GOOD.replace("at: 2s", "at: [1s, 8s]"))
    s = load_scenario(tmp_path / "s.yaml")
    assert make_plan(s, 5) == make_plan(s, 5)
    starts = {make_plan(s, seed).faults[0].at for seed in range(20)}
    assert len(starts) > 10 and all(1 <= a <= 8 for a in starts)
    plan = make_plan(s, 5)
    assert plan.faults[0].heal_at == pytest.approx(plan.faults[0].at + 3)


def test_a_fault_inside_an_earlier_recovery_window_is_a_located_warning_not_a_problem(tmp_path: Path) -> None:
    from walletchaos.loader import load_with_warnings

    text = GOOD.replace("load:", "slo: {recovery: {max: 4s}}\nload:") + (
        "  - {at: [7s, 9s], for: 1s, fault: process.kill, target: wallet}\n"
        "  - {at: 9.5s, for: 1s, fault: network.latency, target: db, params: {latency: 5}}\n"
    )
    path = tmp_path / "s.yaml"
    path.write_text(text)
    scenario, warnings = load_with_warnings(path)  # valid: it loads
    assert len(scenario.faults) == 3
    located = [w.replace(str(path), "s.yaml") for w in warnings]
    # faults[0] heals at 5 s and may recover until 9 s: faults[1] may start at 7 s (warned); faults[2]
    # starts at 9.5 s, after faults[0]'s window but inside faults[1]'s (latest heal 10 s + 4 s)
    assert len(located) == 2, located
    assert located[0].startswith(
        "s.yaml:8:10: faults[1].at: may start while faults[0] (network.latency on db)"
    )
    assert located[1].startswith(
        "s.yaml:9:10: faults[2].at: may start while faults[1] (process.kill on wallet)"
    )
    spaced = text.replace("at: [7s, 9s]", "at: [6s, 6s]").replace("at: 9.5s", "at: 8s")
    path.write_text(spaced.replace("max: 4s", "max: 900ms"))  # windows end at 5.9 s and 7.9 s
    assert load_with_warnings(path)[1] == []


def test_a_span_or_a_pair_reports_only_the_branch_written(tmp_path: Path) -> None:
    faults = (
        "faults:\n"
        "  - {at: xyz, for: 2s, fault: network.latency, target: db}\n"
        "  - {at: [1s, zz], for: 2s, fault: network.latency, target: db}\n"
    )
    found = problems(tmp_path, "name: t\nload:\n  shape:\n    - {phase: p, for: 5s, users: 1}\n" + faults)
    assert found == [
        "s.yaml:6:10: faults[0].at: expected a time span like 500ms, 30s, 2m; got 'xyz'",
        "s.yaml:7:15: faults[1].at[1]: expected a time span like 500ms, 30s, 2m; got 'zz'",
    ], found
