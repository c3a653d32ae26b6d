"""Pins stay in one place: the wallet image installs exactly the versions pyproject.toml pins."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_wallet_image_requirements_match_pyproject_pins() -> None:
    pins = {
        re.split("==", d)[0]: d
        for d in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    }
    wanted = [
        line.strip()
        for line in (ROOT / "dockerfiles/wallet-requirements.txt").read_text().splitlines()
        if line.strip()
    ]
    assert wanted and all(pins.get(line.split("==")[0]) == line for line in wanted), (wanted, pins)
