"""``walletchaos init NAME``: a commented scenario that validates, never overwriting anything."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from walletchaos.loader import load_scenario


def _init(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "walletchaos", "init", *args], cwd=cwd, capture_output=True, text=True
    )


def test_init_writes_a_commented_scenario_that_validates(tmp_path: Path) -> None:
    done = _init(tmp_path, "my_promo")
    assert done.returncode == 0, done.stderr
    path = tmp_path / "my_promo.yaml"
    text = path.read_text()
    assert text.count("#") > 10, "the scaffold explains itself"
    model = load_scenario(path)
    assert model.name == "my_promo" and any(p.open for p in model.load.shape) and model.faults[0].expect
    assert [p.name for p in tmp_path.iterdir()] == ["my_promo.yaml"], "no draft left behind"


def test_init_never_overwrites_and_refuses_bad_names(tmp_path: Path) -> None:
    (tmp_path / "taken.yaml").write_text("mine\n")
    again = _init(tmp_path, "taken")
    assert again.returncode == 254 and "already exists" in again.stderr
    assert (tmp_path / "taken.yaml").read_text() == "mine\n"
    bad = _init(tmp_path, "Bad Name")
    assert bad.returncode == 254 and "'Bad Name'" in bad.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken.yaml"]
