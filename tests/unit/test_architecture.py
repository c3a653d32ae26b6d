"""Package arrows point one way: faults/ and reports/ import the core, the core never imports them (it
finds fault families through their entry points), and only walletchaos/stack/reference.py knows the
reference wallet. The CLI is the one composition root allowed to wire the core to reports/."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def imported(path: Path) -> set[str]:
    """Top-level package names a module imports (anywhere in the file, late imports included)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def offenders(package: str, forbidden: set[str], allowed: set[str] = frozenset()) -> list[str]:  # type: ignore[assignment]
    return sorted(
        f"{p.relative_to(ROOT)} imports {sorted(imported(p) & forbidden)}"
        for p in (ROOT / package).rglob("*.py")
        if imported(p) & forbidden and str(p.relative_to(ROOT)) not in allowed
    )


def test_the_core_never_imports_fault_families() -> None:
    assert offenders("walletchaos", {"faults"}) == []


def test_the_core_imports_reports_only_in_the_cli() -> None:
    assert offenders("walletchaos", {"reports"}, {"walletchaos/cli.py"}) == []


def test_only_the_reference_module_knows_the_reference_wallet() -> None:
    allowed = {"walletchaos/stack/reference.py"}
    assert offenders("walletchaos", {"reference_wallet"}, allowed) == []
    assert offenders("faults", {"reference_wallet"}) + offenders("reports", {"reference_wallet"}) == []


def test_the_checker_sees_late_imports(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from faults import registry\n    import reports.html\n")
    assert imported(module) == {"faults", "reports"}
