"""The audit's ledger streams to a file beside audit.json: never held, compared by count and digest, and a
stored run reads either that file or (a run directory written before it) the postings inline."""

from __future__ import annotations

import io
import json
from pathlib import Path

import httpx
import pytest

from tests.unit.builders import Book, write_run
from walletchaos import auditing, store
from walletchaos.client import WalletAdmin
from walletchaos.errors import InfraError, ScenarioError


def _posting(seq: int) -> str:
    return json.dumps(  # one posting of the contract's shape
        {"seq": seq, "transfer_id": seq, "idempotency_key": f"k{seq}", "account": 1, "delta": 0}
    )


def _admin(*bodies: str) -> WalletAdmin:
    """A WalletAdmin whose GET /v1/audit/ledger answers each body in turn (the last one from then on)."""
    answers = list(bodies)

    def handle(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/v1/audit/ledger":
            return httpx.Response(200, text=answers.pop(0) if len(answers) > 1 else answers[0])
        if path == "/v1/audit/snapshot":
            return httpx.Response(200, json={"as_of": "t", "total": 0, "accounts": []})
        return httpx.Response(200, json={"version": "1", "defects": []})

    admin = WalletAdmin("http://127.0.0.1:9", "t")
    admin.http = httpx.Client(base_url="http://127.0.0.1:9", transport=httpx.MockTransport(handle))
    return admin


def test_the_ledger_streams_to_a_file_as_the_wallet_sent_it() -> None:
    body = "\n".join(_posting(i) for i in range(1, 8)) + "\n\n"
    out = io.StringIO()
    count, digest = _admin(body).ledger_to(out, batch=3)
    assert count == 7 and out.getvalue() == body.rstrip("\n") + "\n"
    assert _admin(body).ledger_to(None, batch=2) == (count, digest), "the same postings, the same digest"
    other = body.replace('"delta": 0}', '"delta": 1}', 1)
    assert _admin(other).ledger_to(None)[1] != digest


def test_a_line_that_is_not_json_is_named_by_its_number_across_batches() -> None:
    body = "\n".join([_posting(1), _posting(2), _posting(3), "{broken", _posting(5)])
    with pytest.raises(InfraError, match="line 4 is not JSON"):
        _admin(body).ledger_to(io.StringIO(), batch=3)


def test_a_ledger_that_moved_between_the_reads_is_unstable_with_both_counts(tmp_path: Path) -> None:
    first, second = _posting(1) + "\n", _posting(1) + "\n" + _posting(2) + "\n"
    ledger = tmp_path / store.LEDGER
    audit = auditing.final_audit(_admin(first, second), [], [], ledger, attempts=1, pause_s=0)
    assert audit["ledger_stable"] is False and audit["ledger"] == ledger
    assert "(1 -> 2 postings in the last)" in audit["ledger_unstable_reason"]
    assert ledger.read_text() == second, "the read after the snapshot is the audit's ledger"
    quiet = auditing.final_audit(_admin(second), [], [], ledger, attempts=1, pause_s=0)
    assert quiet["ledger_stable"] is True and quiet["ledger_reads"] == 2


def test_a_stored_run_reads_its_ledger_file_or_an_inline_ledger(tmp_path: Path) -> None:
    book = Book({1: 100, 2: 0})
    book.transfer("k1", 1, 2, 10)
    audit = book.audit()
    inline = store.load_run(write_run(tmp_path / "inline", book, audit=audit))
    assert inline.audit["ledger"] == audit["ledger"]

    run = write_run(tmp_path / "file", book, audit=audit)
    (run / store.LEDGER).write_text("".join(json.dumps(p) + "\n" for p in audit["ledger"]))
    store.write_audit(run, {**audit, "ledger": run / store.LEDGER})
    assert json.loads((run / "audit.json").read_text())["ledger"] == store.LEDGER
    stored = store.load_run(run)
    assert stored.audit["ledger"] == run / store.LEDGER

    for hostile in ("../elsewhere.jsonl", "/etc/passwd", "history.jsonl"):
        store.write_json(run / "audit.json", {**audit, "ledger": hostile})
        with pytest.raises(ScenarioError, match=r"audit\.json: ledger: expected the file 'ledger\.jsonl'"):
            store.load_run(run)
