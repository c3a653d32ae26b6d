"""The pytest plugin (entry point pytest11) driven by pytester: a stored run re-judged, with the violated
checks and their evidence as the failure message; a valid stored run passes."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.builders import recovering_book, write_run

pytest_plugins = ["pytester"]
SLO = {"recovery": {"max": "5s", "success": 0.9, "hold": "500ms"}}


def test_a_stored_invalid_run_fails_the_test_with_its_evidence(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    book = recovering_book(300)
    book.transfer("dup", 1, 2, 5, kind="info", status=0, applied=True)
    book.transfer("dup", 1, 2, 5)  # applied twice
    run = write_run(tmp_path / "bad", book, slo=SLO)
    pytester.makepyfile(
        f"""
        def test_gate(walletchaos):
            walletchaos.analyze({str(run)!r}).check()
        """
    )
    result = pytester.runpytest_subprocess()  # the plugin loads through its pytest11 entry point
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*walletchaos: t is INVALID (exit 1)*",
            "*exactly_once: 1 key(s) applied more than once*",
            '*first: {*"key": "dup"*',
            f"*run directory: {run}*",
        ]
    )


def test_a_stored_valid_run_passes(pytester: pytest.Pytester, tmp_path: Path) -> None:
    run = write_run(tmp_path / "good", recovering_book(300), slo=SLO)
    pytester.makepyfile(
        f"""
        def test_gate(walletchaos):
            judged = walletchaos.analyze({str(run)!r})
            judged.check()
            assert judged.valid and judged.verdict["valid"] == "valid"
        """
    )
    pytester.runpytest_subprocess().assert_outcomes(passed=1)


def test_the_marker_needs_a_scenario(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.walletchaos
        def test_gate(walletchaos_result):
            walletchaos_result.check()
        """
    )
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*walletchaos_result needs @pytest.mark.walletchaos*"])
