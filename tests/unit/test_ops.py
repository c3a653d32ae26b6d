"""The history's one schema: every writer's records parse back, and an off-schema line is refused naming
the file, the line and the field (a stored run that was edited or cut is not judged as if it were whole)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.unit.builders import Book, write_run
from walletchaos import history
from walletchaos.cli import main
from walletchaos.ops import Fn, HistoryError, Kind, Op


def test_an_op_round_trips_through_its_record() -> None:
    op = Op(3, 7, Kind.OK, Fn.PAY, 123, {"id": "t-1"}, 201, extra={"note": "x"})
    assert Op.parse(json.loads(json.dumps(op.record()))) == op


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"type": "maybe"}, "type"),
        ({"f": "teleport"}, "f"),
        ({"time": "soon"}, "time"),
        ({"value": [1]}, "value"),
    ],
)
def test_a_record_off_the_schema_is_refused_with_its_field(change: dict[str, object], field: str) -> None:
    rec = {**Op(1, 0, Kind.INVOKE, Fn.BALANCE, 5, {}).record(), **change}
    with pytest.raises(HistoryError, match=field):
        Op.parse(rec)
    with pytest.raises(HistoryError, match=field):
        Op.check(rec)  # what the history reader calls: the same refusal without building the Op


def test_a_stored_history_with_an_edited_line_is_refused_by_analyze(tmp_path: Path) -> None:
    book = Book({"a": 100, "m": 0})
    book.transfer("k1", "a", "m", 10)
    run = write_run(tmp_path / "run", book)
    assert CliRunner().invoke(main, ["analyze", str(run)]).exit_code == 0
    lines = (run / "history.jsonl").read_text().splitlines()
    lines[1] = lines[1].replace('"f":"accounts"', '"f":"acounts"')
    (run / "history.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(HistoryError, match=r"history.jsonl:2: type/f: 'acounts' is not a valid Fn"):
        list(history.read(run / "history.jsonl"))
    result = CliRunner().invoke(main, ["analyze", str(run)])
    assert result.exit_code == 254 and "history.jsonl:2" in result.output


def test_a_last_line_cut_short_is_skipped_but_one_in_the_middle_is_not(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    good = json.dumps(Op(1, 0, Kind.INVOKE, Fn.BALANCE, 5, {}).record())
    path.write_text(f"{good}\n{good[:20]}\n")
    assert len(list(history.read(path))) == 1
    path.write_text(f"{good[:20]}\n{good}\n")
    with pytest.raises(HistoryError, match=r"h\.jsonl:1: not JSON"):
        list(history.read(path))


GOOD = Op(1, 0, Kind.INVOKE, Fn.BALANCE, 5, {"account": 1}).record()
HOSTILE = [
    "[1]",
    json.dumps([GOOD]),  # a record in an array: its fields are not at the top
    '"a record"',
    json.dumps({**GOOD, "op": 1.0}),
    json.dumps({**GOOD, "op": True}),
    json.dumps({**GOOD, "time": "5"}),
    json.dumps({**GOOD, "process": None}),
    json.dumps({**GOOD, "process": [1]}),
    json.dumps({**GOOD, "value": [1]}),
    json.dumps({**GOOD, "value": "x"}),
    json.dumps({**GOOD, "type": 1}),
    json.dumps({**GOOD, "f": "teleport"}),
    json.dumps({k: v for k, v in GOOD.items() if k != "f"}),
    json.dumps(GOOD)[:-1] + ', "type": "maybe"}',  # a key twice: Python reads the last
    json.dumps(GOOD)[:-1] + ', "type": "invoke"}',  # twice, the same
    json.dumps(GOOD)[:-1] + ', "type": "ok"}',  # twice, both valid: DuckDB reads invoke, Python ok
    json.dumps(GOOD)[:-2] + ', "account": 2}}',  # a key twice in the value
    json.dumps({**GOOD, "value": {"response": {"from": 1}}})[:-3] + ', "from": 2}}}',  # in its response
    '{"process": 1, "op": 0, "value": {"a": 1, "a": 2}, "ti',  # cut short after an inner key twice
    json.dumps({**GOOD, "value": {"amount": float("nan")}}),  # NaN: Python reads it
    json.dumps({**GOOD, "op": 2**70}),  # an integer beyond 64 bits: Python's int
    json.dumps(GOOD)[:25],
    "",
    "   ",
]


@pytest.mark.parametrize("line", HOSTILE)
@pytest.mark.parametrize("where", ["middle", "last"])
def test_a_history_the_fast_check_passes_is_one_the_reader_accepts(
    tmp_path: Path, line: str, where: str
) -> None:
    """``history.File.check`` lets a DuckDB scan vouch for a file and reads it in Python only when the scan
    finds anything: it may send a good file to the slow pass, never let a bad one through."""
    path = tmp_path / "h.jsonl"
    good = json.dumps(GOOD)
    path.write_text(f"{good}\n{line}\n{good}\n" if where == "middle" else f"{good}\n{good}\n{line}\n")
    try:
        list(history.records(path))
        accepted = True
    except HistoryError:
        accepted = False
    if history._well_formed(path):
        assert accepted, line
    if accepted:
        history.File(path).check()
    else:
        with pytest.raises(HistoryError, match=r"h\.jsonl:\d+: "):
            history.File(path).check()


def test_a_key_twice_is_refused_naming_the_line_and_the_key(tmp_path: Path) -> None:
    """Python's reader keeps the last of two values and DuckDB's the first: a record holding a key twice
    would be judged on one and worded with the other, so no reader takes it."""
    path = tmp_path / "h.jsonl"
    good = json.dumps(GOOD)
    for twice, key in ((good[:-1] + ', "type": "ok"}', "type"), (good[:-2] + ', "account": 2}}', "account")):
        path.write_text(f"{good}\n{twice}\n{good}\n")
        assert not history._well_formed(path)
        with pytest.raises(HistoryError, match=rf"h\.jsonl:2: the key '{key}' twice in one object"):
            history.File(path).check()


def test_a_written_history_is_vouched_for_by_the_fast_check(tmp_path: Path) -> None:
    book = Book({"a": 100, "m": 0})
    book.transfer("k1", "a", "m", 10)
    book.read("a")
    run = write_run(tmp_path / "run", book)
    assert history._well_formed(run / "history.jsonl")


def test_every_op_of_the_scenario_mix_is_a_load_op_and_every_load_call_is_an_fn() -> None:
    import ast
    import typing

    from walletchaos.scenario import OpName

    source = Path(__file__).resolve().parents[2] / "walletchaos" / "load"
    tree = [ast.parse(p.read_text()) for p in source.glob("*.py")]
    defined = {
        n.name.removeprefix("op_") for t in tree for n in ast.walk(t) if isinstance(n, ast.FunctionDef)
    }
    assert set(typing.get_args(OpName)) <= defined
    called = {
        n.args[0].value
        for t in tree
        for n in ast.walk(t)
        if isinstance(n, ast.Call)
        and isinstance(n.func, ast.Attribute)
        and n.func.attr in ("_call", "_transfer")
        and n.args
        and isinstance(n.args[0], ast.Constant)
    }
    assert called and called <= {str(f) for f in Fn}
