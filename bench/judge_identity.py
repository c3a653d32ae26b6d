"""Is the judge's verdict unchanged? For a refactor or a port of the judge (the columnar path for long runs
in README "Not there yet"): saves every verdict field but the checkers' times for a fixed set of histories,
then compares a later judge against the saved file, check by check and field by field.

The histories: bench/judge_scaling.py's synthetic correct history at two sizes, the same histories broken
in several ways (postings altered, lost and duplicated, a snapshot balance off, an acknowledged answer
rewritten, a completion lost, a debit sent with the payee's session, a read of a balance never held, an
applied transfer answered 422) so that failing paths are compared too, and every complete run directory under
RUNS (default ``runs/``: whatever runs this checkout has made, defect runs included).

    .venv/bin/python bench/judge_identity.py save /tmp/before.json [--runs runs]
    ... change the judge ...
    .venv/bin/python bench/judge_identity.py compare /tmp/before.json [--runs runs]   # exit 1 on a difference
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import random
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from judge_scaling import history

from tests.unit.builders import scenario
from walletchaos import history as hist
from walletchaos import judge, store
from walletchaos.scenario import Scenario

Case = tuple[str, Scenario, list[dict[str, Any]], dict[str, Any]]


def broken(records: list[dict[str, Any]], audit: dict[str, Any], seed: int) -> Iterator[tuple[str, Any, Any]]:
    """The history broken one way at a time (each a fresh copy)."""
    rng = random.Random(seed)
    ledger = audit["ledger"]

    def variant(change: Any) -> tuple[Any, Any]:
        r, a = copy.deepcopy(records), copy.deepcopy(audit)
        change(r, a)
        return r, a

    def altered(r: Any, a: Any) -> None:
        for i in rng.sample(range(len(ledger)), 20):
            a["ledger"][i]["delta"] = int(a["ledger"][i]["delta"]) + 1

    def lost(r: Any, a: Any) -> None:
        del a["ledger"][5:9]

    def duplicated(r: Any, a: Any) -> None:
        for post in a["ledger"][10:14]:
            again = f"{post['transfer_id']}-again"
            a["ledger"].append({**post, "seq": len(a["ledger"]) + 1, "transfer_id": again})

    def snapshot_off(r: Any, a: Any) -> None:
        a["snapshot"]["accounts"][0]["balance"] -= 7

    def answer_rewritten(r: Any, a: Any) -> None:
        for rec in r:
            if rec.get("f") == "pay" and rec["type"] == "ok" and isinstance(rec.get("value"), dict):
                rec["value"] = {**rec["value"], "id": "not-in-the-ledger", "amount": 1}
                return

    def completion_lost(r: Any, a: Any) -> None:
        done = [i for i, rec in enumerate(r) if rec.get("f") == "pay" and rec["type"] == "ok"]
        del r[done[len(done) // 2]]

    def middle(r: Any, f: str, kind: str) -> int:
        """The index of the middle record of a completed ``f`` of this ``kind``."""
        found = [i for i, rec in enumerate(r) if rec.get("f") == f and rec["type"] == kind]
        return found[len(found) // 2]

    def invoke_of(r: Any, done: int) -> dict[str, Any]:
        rec = r[done]
        return next(x for x in reversed(r[:done]) if (x["process"], x["op"]) == (rec["process"], rec["op"]))

    def foreign_debit(r: Any, a: Any) -> None:  # authorization: a payer's debit sent with the payee's session
        asked = invoke_of(r, middle(r, "pay", "ok"))
        asked["value"] = {**asked["value"], "as": asked["value"]["to"]}

    def stale_read(r: Any, a: Any) -> None:  # reads_in_order, read_your_writes: a balance never held
        r[middle(r, "balance", "ok")]["value"] = {"balance": 10**9 - 123_457}

    def wrong_refusal(r: Any, a: Any) -> None:  # no_wrong_refusals, failed_not_applied: 422 yet applied
        done = r[middle(r, "pay", "ok")]
        done.update(type="fail", status=422, error="insufficient_funds", value=None)

    for change in (
        altered,
        lost,
        duplicated,
        snapshot_off,
        answer_rewritten,
        completion_lost,
        foreign_debit,
        stale_read,
        wrong_refusal,
    ):
        yield (change.__name__, *variant(change))


def cases(runs: Path) -> Iterator[Case]:
    for n in (3_000, 20_000):
        records, audit = history(n, seed=n)
        yield f"bench{n}", scenario(), records, audit
        for name, r, a in broken(records, audit, n):
            yield f"bench{n}-{name}", scenario(), r, a
    for path in sorted(runs.glob("*/2*")):
        if path.is_symlink() or not (path / "history.jsonl").is_file():
            continue
        try:
            run = store.load_run(path)
        except Exception as exc:  # an incomplete or foreign directory: named, not compared
            print(f"skipped {path}: {exc}", file=sys.stderr)
            continue
        audit = run.audit  # as lists, as the Python judge (5090bc5) takes them
        if isinstance(audit.get("ledger"), Path):
            audit["ledger"] = [json.loads(line) for line in audit["ledger"].open() if line.strip()]
        yield str(path), run.scenario, hist.read(path / "history.jsonl"), audit


def verdict(sc: Scenario, records: list[dict[str, Any]], audit: dict[str, Any]) -> dict[str, Any]:
    v = judge.check(sc, records, audit)
    results = []
    for r in v.results:
        fields = dataclasses.asdict(r)
        fields.pop("seconds")
        results.append(fields)
    out = {"valid": v.valid, "results": results, "stats": v.stats}
    as_json: dict[str, Any] = json.loads(json.dumps(out, default=str, sort_keys=True))  # tuples, ids: as JSON
    return as_json


def differences(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    out = []
    if before["valid"] != after["valid"]:
        out.append(f"validity {before['valid']} -> {after['valid']}")
    names = [r["name"] for r in before["results"]], [r["name"] for r in after["results"]]
    if names[0] != names[1]:
        out.append(f"checks {names[0]} -> {names[1]}")
    for b, a in zip(before["results"], after["results"], strict=False):
        for field in sorted(set(b) | set(a)):
            if b.get(field) != a.get(field):
                out.append(f"{b['name']}.{field}: {str(b.get(field))[:160]} -> {str(a.get(field))[:160]}")
    if before["stats"] != after["stats"]:
        out.append(f"stats {before['stats']} -> {after['stats']}")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("action", choices=["save", "compare"])
    ap.add_argument("file", type=Path)
    ap.add_argument("--runs", type=Path, default=Path("runs"))
    args = ap.parse_args()
    now = {name: verdict(sc, records, audit) for name, sc, records, audit in cases(args.runs)}
    if args.action == "save":
        args.file.write_text(json.dumps(now, indent=1, sort_keys=True))
        counts = {v: sum(1 for x in now.values() if x["valid"] == v) for v in (True, False, "unknown", None)}
        print(f"saved {len(now)} verdicts to {args.file} ({counts})")
        return 0
    saved = json.loads(args.file.read_text())
    changed = 0
    for name in sorted(set(saved) | set(now)):
        if name not in saved or name not in now:
            print(f"{name}: only {'now' if name in now else 'in the saved file'}")
            continue
        diff = differences(saved[name], now[name])
        changed += bool(diff)
        for line in diff[:10]:
            print(f"{name}: {line}")
    print(f"{len(now)} verdicts compared, {changed} changed")
    return 1 if changed else 0


if __name__ == "__main__":
    sys.exit(main())
