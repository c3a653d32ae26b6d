"""YAML -> Scenario, reporting ALL problems at once as ``file:line:col: field.path: message``.

PyYAML's node tree keeps each value's position; pydantic's error locations are mapped back onto it.
Unknown keys get a "did you mean" from the allowed names; fault names and targets are checked against
the fault registry in the same pass, so a user fixes a file in one round.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from .errors import ScenarioError
from .scenario import Scenario

Loc = tuple[str | int, ...]


def _construct(node: yaml.Node, path: Loc, marks: dict[Loc, yaml.Mark]) -> Any:
    marks[path] = node.start_mark
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = key_node.value
            marks[(*path, key, "__key__")] = key_node.start_mark
            out[key] = _construct(value_node, (*path, key), marks)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_construct(item, (*path, i), marks) for i, item in enumerate(node.value)]
    return yaml.SafeLoader(" ").construct_object(node, deep=True)


def parse_yaml(text: str, source: str) -> tuple[Any, dict[Loc, yaml.Mark]]:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        raise ScenarioError([f"{where}: invalid YAML: {exc.problem}"]) from None
    marks: dict[Loc, yaml.Mark] = {}
    return (_construct(root, (), marks) if root is not None else None), marks


def _where(source: str, marks: dict[Loc, yaml.Mark], loc: Loc, key: bool = False) -> str:
    for end in range(len(loc), -1, -1):
        probe = (*loc[:end], "__key__") if key and end == len(loc) else loc[:end]
        if probe in marks:
            m = marks[probe]
            return f"{source}:{m.line + 1}:{m.column + 1}"
    return source


def _dotted(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _model_at(loc: Loc) -> type[BaseModel] | None:
    """The pydantic model that holds the field at ``loc`` (for "did you mean" on unknown keys)."""
    model: Any = Scenario
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        fields = {f.alias or n: f for n, f in model.model_fields.items()}
        ann = fields[part].annotation if part in fields else None
        candidates = [ann, *getattr(ann, "__args__", ())]
        candidates += [a for c in list(candidates) for a in getattr(c, "__args__", ())]
        model = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)
        if model is None:
            return None
    return model  # type: ignore[no-any-return]


def _message(err: dict[str, Any]) -> str:
    loc: Loc = tuple(
        p for p in err["loc"] if not (isinstance(p, str) and p in ("float", "tuple[float, float]"))
    )
    msg = str(err["msg"]).removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        model = _model_at(loc)
        names = [f.alias or n for n, f in model.model_fields.items()] if model else []
        close = difflib.get_close_matches(str(loc[-1]), names, n=1)
        msg = (
            "unknown field"
            + (f"; did you mean '{close[0]}'?" if close else "")
            + (f" (valid: {', '.join(names)})" if names else "")
        )
    elif err["type"] == "missing":
        msg = "required field is missing"
    return msg


def _clean_loc(err: dict[str, Any]) -> Loc:
    return tuple(
        p for p in err["loc"] if not (isinstance(p, str) and ("[" in p or p in ("float", "int", "str")))
    )


def load_scenario(path: str | Path) -> Scenario:
    """Read, parse and validate; raises ScenarioError listing every problem (exit 254)."""
    source = str(path)
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ScenarioError([f"{source}: cannot read: {exc.strerror}"]) from None
    data, marks = parse_yaml(text, source)
    if not isinstance(data, dict):
        raise ScenarioError(
            [f"{source}:1:1: expected a mapping of scenario fields (name, load, faults, ...)"]
        )
    problems: list[str] = []
    scenario = None
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            loc = _clean_loc(dict(err))
            where = _where(source, marks, loc, key=err["type"] == "extra_forbidden")
            problems.append(f"{where}: {_dotted(loc)}: {_message(dict(err))}")
    from faults import registry  # late: faults import the stack adapters

    for i, fault in enumerate(data.get("faults") or []):
        if isinstance(fault, dict):
            for field, msg in registry.check_spec(fault):
                loc = ("faults", i, field)
                problems.append(f"{_where(source, marks, loc)}: {_dotted(loc)}: {msg}")
    if problems:
        raise ScenarioError(sorted(set(problems), key=_line_order))
    assert scenario is not None
    return scenario


def _line_order(problem: str) -> tuple[int, int, str]:
    parts = problem.split(":")
    try:
        return int(parts[1]), int(parts[2]), problem
    except (IndexError, ValueError):
        return 0, 0, problem
