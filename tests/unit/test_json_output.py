"""``--json``: exactly one JSON document on stdout (the verdict, the comparison or the problems), whatever
the outcome; the human output goes to stderr. ``--quiet``: nothing on stdout."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.unit.builders import Book, write_run
from tests.unit.test_loader import GOOD


def _cli(*args: str) -> tuple[int, Any, str]:
    done = subprocess.run([sys.executable, "-m", "walletchaos", *args], capture_output=True, text=True)
    return done.returncode, json.loads(done.stdout), done.stderr  # the whole of stdout is one document


def test_analyze_and_compare_print_one_document(tmp_path: Path) -> None:
    good = write_run(tmp_path / "good", Book({1: 10, 2: 0}))
    bad_book = Book({1: 10, 2: 0})
    bad_book.transfer("lost", 1, 2, 5, applied=False)
    bad = write_run(tmp_path / "bad", bad_book)
    code, doc, err = _cli("analyze", str(bad), "--json")
    assert code == 1 and doc["valid"] == "invalid" and doc["schema"] == "walletchaos.verdict/v1"
    assert "durability" in err, "the human table still shows, on stderr"
    code, doc, _ = _cli("compare", str(good), str(bad), "--json")
    assert code == 1 and doc["regressed"] == ["verdict", "durability"] and doc["exit_code"] == 1
    assert {"metric", "base", "run", "delta", "regression"} <= set(doc["rows"][0])


def test_validate_prints_the_problems_or_the_files(tmp_path: Path) -> None:
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text(GOOD)
    bad.write_text(GOOD.replace("users: 5", "users: -1"))
    code, doc, _ = _cli("validate", str(good), "--json")
    assert code == 0 and doc["ok"] == [str(good)] and doc["problems"] == []
    code, doc, _ = _cli("validate", str(good), str(bad), "--json")
    assert code == 254 and doc["schema"] == "walletchaos.problems/v1" and len(doc["problems"]) == 1
    assert f"{bad}:4:38: load.shape[0].users" in doc["problems"][0]


def test_quiet_prints_nothing_on_stdout(tmp_path: Path) -> None:
    book = Book({1: 10, 2: 0})
    book.transfer("k", 1, 2, 5)
    run = write_run(tmp_path / "run", book)
    done = subprocess.run(
        [sys.executable, "-m", "walletchaos", "analyze", str(run), "--quiet"], capture_output=True, text=True
    )
    assert done.returncode == 0 and done.stdout == ""
