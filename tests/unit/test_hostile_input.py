"""Hostile scenario files: every malformed file is exit 254 with file:line:col and a reason, never a
traceback, a hang or a silent acceptance; one bad file does not hide the others."""

from __future__ import annotations

import os
import re
import resource
import time
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from walletchaos.cli import main
from walletchaos.errors import ScenarioError
from walletchaos.loader import load_scenario

CORPUS_DIR = Path(__file__).parent.parent / "corpus" / "hostile"
CORPUS = sorted(CORPUS_DIR.glob("*.yaml"))
SHIPPED = sorted((Path(__file__).parent.parent.parent / "scenarios").glob("*.yaml"))
LOCATED = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+):(?P<col>\d+): \S")


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.stem)
def test_every_file_of_the_corpus_is_refused_with_a_location(path: Path) -> None:
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    for problem in caught.value.problems:
        m = LOCATED.match(problem)
        assert m and m.group("file") == str(path), problem


def test_the_corpus_covers_the_reported_cases() -> None:
    assert len(CORPUS) >= 25


def test_an_alias_bomb_is_refused_fast_with_bounded_memory() -> None:
    path = next(p for p in CORPUS if p.stem == "billion_laughs")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    with pytest.raises(ScenarioError, match="after alias expansion"):
        load_scenario(path)
    assert time.perf_counter() - started < 1.0
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200_000  # KiB


def test_fifos_directories_and_big_files_are_refused_without_reading(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    with pytest.raises(ScenarioError, match="not a regular file"):
        load_scenario(fifo)  # would block for ever if opened
    with pytest.raises(ScenarioError, match="not a regular file"):
        load_scenario(tmp_path)
    big = tmp_path / "big.yaml"
    big.write_text("# " + "x" * (2 << 20))
    with pytest.raises(ScenarioError, match="at most"):
        load_scenario(big)


def test_validate_reports_every_file_of_a_batch_and_prints_markup_as_text() -> None:
    files = [str(p) for p in CORPUS]
    result = CliRunner().invoke(main, ["validate", *files, "scenarios/smoke.yaml"])
    assert result.exit_code == 254, result.output
    assert "Traceback" not in result.output
    for path in files:
        assert path in result.output, path
    assert "network.[/bold]" in result.output  # user text printed as text, not eaten as markup
    assert "ok scenarios/smoke.yaml" in result.output


def test_usage_errors_exit_254_not_2() -> None:
    assert CliRunner().invoke(main, ["--bogus"]).exit_code == 254
    assert CliRunner().invoke(main, ["run"]).exit_code == 254
    assert CliRunner().invoke(main, ["--help"]).exit_code == 0


def test_list_faults_prints_indexed_targets() -> None:
    out = CliRunner().invoke(main, ["list-faults"], terminal_width=200).output
    assert "ingress[i]" in out and "wallet[i]" in out


def _mutations() -> st.SearchStrategy[object]:
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=12),
        st.sampled_from(["1s", "-1s", "0s", ".nan", "wallet[7]", "db[0]", "[/bold]", "1e400", "30 sec"]),
    )
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
        max_leaves=6,
    )


def _paths(data: object, prefix: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    out = [prefix]
    if isinstance(data, dict):
        for k, v in data.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out += _paths(v, (*prefix, i))
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(source=st.sampled_from(SHIPPED), data=st.data())
def test_mutated_shipped_scenarios_are_valid_or_254_with_a_location(
    source: Path, data: st.DataObject, tmp_path: Path
) -> None:
    doc = yaml.safe_load(source.read_text())
    path = data.draw(st.sampled_from(_paths(doc)[1:]))
    value = data.draw(_mutations())
    target = doc
    for part in path[:-1]:
        target = target[part]  # type: ignore[index]
    target[path[-1]] = value  # type: ignore[index]
    out = tmp_path / "mutated.yaml"
    out.write_text(yaml.safe_dump(doc, allow_unicode=True))
    try:
        load_scenario(out)
    except ScenarioError as exc:
        for problem in exc.problems:
            assert LOCATED.match(problem), problem


def test_deploy_versions_are_checked_against_the_wallet_and_the_runtime(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError) as caught:
        load_scenario(CORPUS_DIR / "deploy_misuse.yaml")
    found = [p.split(": ", 1)[1] for p in caught.value.problems]
    assert any(p.startswith("faults[0].params: command: unknown placeholder {prot}") for p in found)
    assert "faults[0].params.command: a command deploy runs on the local runtime" in found
    assert (
        found.count("faults[1].params: give exactly one of defects (reference wallet), command or image") == 1
    )
    assert "faults[2].params: give exactly one of defects (reference wallet), command or image" in found
    yours = tmp_path / "yours.yaml"
    yours.write_text(
        'name: yours\nwallet: {command: "./w --port {port}"}\n'
        "load: {shape: [{phase: p, for: 9s, users: 1}]}\n"
        "faults: [{at: 1s, for: 1s, fault: deploy, target: wallet, params: {defects: [double_apply]}}]\n"
    )
    with pytest.raises(
        ScenarioError, match=r"yours.yaml:4:\d+: faults\[0\]\.params\.defects: defects are the"
    ):
        load_scenario(yours)


def test_a_runtime_override_that_cannot_run_the_scenario_is_refused_before_anything_starts(
    tmp_path: Path,
) -> None:
    local = tmp_path / "local.yaml"
    local.write_text(
        "name: local\nload: {shape: [{phase: p, for: 9s, users: 1}]}\n"
        'faults: [{at: 1s, for: 1s, fault: deploy, target: wallet, params: {command: "./w --port {port}"}}]\n'
    )
    assert CliRunner().invoke(main, ["validate", str(local)]).exit_code == 0
    result = CliRunner().invoke(
        main, ["run", str(local), "--runtime", "docker", "--out", str(tmp_path / "r")]
    )
    assert result.exit_code == 254
    assert (
        "--runtime docker: faults.0.params.command: a command deploy runs on the local runtime"
        in result.output
    )
    assert not (tmp_path / "r").exists()


def test_an_image_is_checked_against_the_runtime_the_command_and_the_defects(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError) as caught:
        load_scenario(CORPUS_DIR / "wallet_image_misuse.yaml")
    found = [p.split(": ", 1)[1] for p in caught.value.problems]
    assert "wallet.image: give either command (local runtime) or image (docker runtime)" in found
    assert "wallet.image: runs on the docker runtime (runtime: docker)" in found
    assert "wallet.defects: defects are the reference wallet's; build the defective image itself" in found
    assert "faults[0].params.image: an image deploy runs on the docker runtime" in found
    assert "faults[1].params: image: an image reference such as registry/name:tag" in found
    env_only = tmp_path / "env.yaml"
    env_only.write_text(
        "name: e\nwallet: {env: {FOO: bar}}\nload: {shape: [{phase: p, for: 5s, users: 1}]}\n"
    )
    with pytest.raises(
        ScenarioError, match=r"env.yaml:2:\d+: wallet.env: the environment of your command or image"
    ):
        load_scenario(env_only)
    image = tmp_path / "image.yaml"
    image.write_text(
        'name: i\nruntime: docker\nwallet: {image: "walletchaos/gowallet:latest", env: {X: "1"}}\n'
        "load: {shape: [{phase: p, for: 5s, users: 1}]}\n"
    )
    assert load_scenario(image).wallet.env == {"X": "1"}
    result = CliRunner().invoke(main, ["run", str(image), "--runtime", "local", "--out", str(tmp_path / "r")])
    assert result.exit_code == 254 and "wallet.image: runs on the docker runtime" in result.output
    assert not (tmp_path / "r").exists()
