"""YAML -> Scenario, reporting ALL problems at once as ``file:line:col: field.path: message``.

PyYAML's node tree keeps each value's position; pydantic's error locations are mapped back onto it.
Unknown keys get a "did you mean" from the allowed names; fault names and targets are checked against
the fault registry in the same pass, so a user fixes a file in one round.
"""

from __future__ import annotations

import difflib
import stat
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from .errors import ScenarioError
from .scenario import Scenario

Loc = tuple[str | int, ...]


MAX_BYTES = 1 << 20
"""A scenario file is small; anything bigger is refused before parsing."""
MAX_NODES = 100_000
"""Nodes after alias expansion: a "billion laughs" file is refused instead of expanded."""
MAX_DEPTH = 40


class _Refused(Exception):
    def __init__(self, mark: yaml.Mark | None, message: str) -> None:
        super().__init__(message)
        self.mark, self.message = mark, message


class _Builder:
    """Turns PyYAML's node tree into plain data, recording each value's position, and refusing what a
    scenario never needs: keys that are not plain scalars, duplicate keys, deep nesting, alias bombs."""

    def __init__(self) -> None:
        self.marks: dict[Loc, yaml.Mark] = {}
        self.nodes = 0
        self.scalars = yaml.SafeLoader("")

    def build(self, node: yaml.Node, path: Loc) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise _Refused(node.start_mark, f"more than {MAX_NODES} values (after alias expansion)")
        if len(path) > MAX_DEPTH:
            raise _Refused(node.start_mark, f"nested more than {MAX_DEPTH} levels deep")
        self.marks[path] = node.start_mark
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        return self._scalar(node)

    def _scalar(self, node: yaml.Node) -> Any:
        try:
            return self.scalars.construct_object(node, deep=True)
        except (ValueError, TypeError, OverflowError) as exc:  # e.g. ``!!int abc``
            raise _Refused(node.start_mark, f"cannot read {node.value!r} as {node.tag}: {exc}") from None

    def _mapping(self, node: yaml.MappingNode, path: Loc) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise _Refused(key_node.start_mark, "a key must be a plain name, not a list or mapping")
            key = self._scalar(key_node)
            if not isinstance(key, str | int):
                raise _Refused(key_node.start_mark, f"a key must be a plain name; got {key!r}")
            if key in out:
                raise _Refused(key_node.start_mark, f"duplicate key '{key}'")
            self.marks[(*path, key, "__key__")] = key_node.start_mark
            out[key] = self.build(value_node, (*path, key))
        return out


def parse_yaml(text: str, source: str) -> tuple[Any, dict[Loc, yaml.Mark]]:
    """YAML text -> (data, positions); every problem is a ScenarioError located at file:line:col."""
    builder = _Builder()
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        return (builder.build(root, ()) if root is not None else None), builder.marks
    except _Refused as exc:
        raise ScenarioError([f"{_at(source, exc.mark)}: {exc.message}"]) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise ScenarioError([f"{_at(source, mark)}: invalid YAML: {exc.problem or exc}"]) from None
    except yaml.YAMLError as exc:  # ReaderError: control characters and the like
        where = f"{source}:1:1"
        if isinstance(exc, yaml.reader.ReaderError):
            line = text.count("\n", 0, exc.position) + 1
            col = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
            where = f"{source}:{line}:{col}"
        raise ScenarioError([f"{where}: invalid YAML: {_oneline(str(exc))}"]) from None
    except RecursionError:
        raise ScenarioError([f"{source}:1:1: nested too deeply to read"]) from None


def _at(source: str, mark: yaml.Mark | None) -> str:
    return f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else f"{source}:1:1"


def _oneline(text: str) -> str:
    return " ".join(text.split())


def read_text(path: Path, source: str) -> str:
    """A regular file of at most MAX_BYTES of UTF-8 text; FIFOs, directories and devices are refused
    without being opened for reading (a FIFO would block)."""
    try:
        info = path.stat()
    except OSError as exc:
        raise ScenarioError([f"{source}: cannot read: {exc.strerror}"]) from None
    if not stat.S_ISREG(info.st_mode):
        raise ScenarioError([f"{source}: not a regular file"])
    if info.st_size > MAX_BYTES:
        raise ScenarioError([f"{source}: {info.st_size} bytes; a scenario file is at most {MAX_BYTES}"])
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ScenarioError([f"{source}: cannot read: {exc.strerror}"]) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ScenarioError(
            [f"{source}:{line}:{col}: not UTF-8 text (byte {data[exc.start]:#04x})"]
        ) from None


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


def _branch(err: dict[str, Any]) -> tuple[Loc, bool] | None:
    """For an error inside a union's branch: where the union is, and whether it is the list branch."""
    for i, part in enumerate(err["loc"]):
        if isinstance(part, str) and ("[" in part or part in ("float", "int", "str")):
            return _clean_loc({"loc": err["loc"][:i]}), part.startswith("tuple[")
    return None


def _other_branch(err: dict[str, Any], errors: list[dict[str, Any]], data: Any) -> bool:
    """A union such as ``at: 5s`` or ``at: [5s, 10s]`` reports every branch's error; when both branches
    failed, only the one with the shape of what was written (a list, or one value) speaks to the user."""
    branch = _branch(err)
    if branch is None or {b for e in errors if (b := _branch(e)) and b[0] == branch[0]} != {
        (branch[0], True),
        (branch[0], False),
    }:
        return False
    value = data
    for step in branch[0]:
        try:
            value = value[step]
        except (KeyError, IndexError, TypeError):
            return False
    return branch[1] != isinstance(value, list)


def load_scenario(path: str | Path) -> Scenario:
    """Read, parse and validate; raises ScenarioError listing every problem (exit 254)."""
    return load_with_warnings(path)[0]


def load_with_warnings(path: str | Path) -> tuple[Scenario, list[str]]:
    """``load_scenario``, plus the scenario's warnings (``Scenario.warnings``) located like problems."""
    source = str(path)
    data, marks = parse_yaml(read_text(Path(path), source), source)
    if not isinstance(data, dict):
        raise ScenarioError(
            [f"{source}:1:1: expected a mapping of scenario fields (name, load, faults, ...)"]
        )
    problems: list[str] = []
    scenario = None
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        errors = [dict(e) for e in exc.errors()]
        for err in exc.errors():
            if _other_branch(dict(err), errors, data):
                continue
            loc = _clean_loc(dict(err))
            where = _where(source, marks, loc, key=err["type"] == "extra_forbidden")
            problems.append(f"{where}: {_dotted(loc)}: {_message(dict(err))}")
    from . import fault as registry

    faults = data.get("faults")
    for i, fault in enumerate(faults if isinstance(faults, list) else []):
        if isinstance(fault, dict):
            for field, msg in registry.check_spec(fault):
                loc = ("faults", i, field)
                problems.append(f"{_where(source, marks, loc)}: {_dotted(loc)}: {msg}")
    for loc, msg in scenario.problems() if scenario is not None else []:
        problems.append(
            f"{_where(source, marks, loc, key=loc[:2] == ('wallet', 'settings'))}: {_dotted(loc)}: {msg}"
        )
    if problems:
        raise ScenarioError(sorted(set(problems), key=_line_order))
    assert scenario is not None
    warnings = [f"{_where(source, marks, loc)}: {_dotted(loc)}: {msg}" for loc, msg in scenario.warnings()]
    return scenario, sorted(warnings, key=_line_order)


def _line_order(problem: str) -> tuple[int, int, str]:
    parts = problem.split(":")
    try:
        return int(parts[1]), int(parts[2]), problem
    except (IndexError, ValueError):
        return 0, 0, problem
