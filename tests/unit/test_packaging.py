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


def test_the_wallet_image_installs_everything_the_wallet_loads() -> None:
    """Every third-party module reference_wallet imports, and the event loop and HTTP parser it names to
    uvicorn, is installed in the image (a missing one crashes the container at start)."""
    import ast
    import sys
    from importlib.metadata import packages_distributions, requires

    wanted = {
        line.split("==")[0].lower()
        for line in (ROOT / "dockerfiles/wallet-requirements.txt").read_text().split()
    }
    modules: set[str] = set()
    for source in (ROOT / "reference_wallet").glob("*.py"):
        tree = ast.parse(source.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.add(node.module.split(".")[0])
            elif (
                isinstance(node, ast.keyword)
                and node.arg in ("loop", "http")
                and isinstance(node.value, ast.Constant)
                and isinstance(node.value.value, str)
            ):
                modules.add(node.value.value)
    third_party = {m for m in modules if m not in sys.stdlib_module_names and m != "reference_wallet"}

    def norm(name: str) -> str:
        return re.sub(r"[-_.]+", "-", name).lower()

    dists = packages_distributions()
    needed = {norm(d) for m in third_party for d in dists.get(m, [m])}
    assert {"uvloop", "httptools", "asyncpg"} <= needed, needed  # the scan sees what it must
    installed = {norm(w) for w in wanted}
    for w in list(installed):  # and what they bring along (starlette comes with fastapi)
        installed |= {
            norm(re.split(r"[ ;<>=!~\[]", r)[0]) for r in (requires(w) or []) if "extra ==" not in r
        }
    assert needed <= installed, (
        f"missing from dockerfiles/wallet-requirements.txt: {sorted(needed - installed)}"
    )
