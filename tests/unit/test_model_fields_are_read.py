"""Nothing the scenario model accepts is ignored by the engine: every field of every model is read somewhere
outside the model and its loader (an attribute access, a ``["name"]`` subscript or a ``.get("name")``), or
it is refused with 254 until it is acted on. A field the engine never reads would be a silent false pass."""

from __future__ import annotations

import ast
import typing
from pathlib import Path

from pydantic import BaseModel

from walletchaos.scenario import Scenario

ROOT = Path(__file__).resolve().parents[2]
ENGINE = [
    p
    for d in ("walletchaos", "faults", "reports")
    for p in (ROOT / d).rglob("*.py")
    if p.name not in ("scenario.py", "loader.py")
]
REFUSED = {"wallet.version": "not acted on yet"}


def models(annotation: object) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in models(arg)]


def fields(model: type[BaseModel], prefix: str = "") -> dict[str, tuple[str, str]]:
    """dotted path -> (attribute name, alias) for every field, nested models included. The check is by name:
    a field counts as read when its name is read anywhere in the engine."""
    out: dict[str, tuple[str, str]] = {}
    for name, info in model.model_fields.items():
        path = prefix + (info.alias or name)
        out[path] = (name, info.alias or name)
        for inner in models(info.annotation):
            out.update(fields(inner, path + "."))
    return out


def names_read(paths: list[Path]) -> set[str]:
    read: set[str] = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Attribute):
                read.add(node.attr)
            elif isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
                read.add(str(node.slice.value))
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "get"
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                read.add(str(node.args[0].value))
    return read


def test_every_scenario_field_is_read_by_the_engine_or_refused() -> None:
    read = names_read(ENGINE)
    unread = sorted(
        path
        for path, (attr, alias) in fields(Scenario).items()
        if not {attr, alias} & read and path not in REFUSED
    )
    assert unread == [], f"accepted by the scenario model but never read by the engine: {unread}"


def test_the_refused_fields_are_refused(tmp_path: Path) -> None:
    from walletchaos.errors import ScenarioError
    from walletchaos.loader import load_scenario

    scenario = tmp_path / "s.yaml"
    scenario.write_text('name: s\nwallet: {version: "2.0"}\nload: {shape: [{phase: p, for: 5s, users: 1}]}\n')
    try:
        load_scenario(scenario)
    except ScenarioError as exc:
        assert any("wallet.version: not acted on yet" in p for p in exc.problems)
    else:
        raise AssertionError("wallet.version was accepted")


def test_the_walk_sees_nested_fields_and_a_field_nobody_reads() -> None:
    found = fields(Scenario)
    assert {"load.shape.for", "faults.for", "slo.recovery.hold", "target.url"} <= set(found)
    assert "never_read_anywhere_xyz" not in names_read(ENGINE)
