"""The contract is part of the product: docs/contract-v1.openapi.json is checked in, and the reference wallet
must serve a compatible document (every call and every documented status of the contract, the same
required headers). A wallet may add calls and statuses; it may not drop them."""

from __future__ import annotations

import json
from pathlib import Path

CONTRACT = Path(__file__).resolve().parents[2] / "docs" / "contract-v1.openapi.json"


def _required_headers(op: dict) -> set[str]:  # type: ignore[type-arg]
    return {p["name"].lower() for p in op.get("parameters", []) if p["in"] == "header" and p.get("required")}


def test_the_reference_wallet_serves_a_document_compatible_with_the_contract(wallet) -> None:  # type: ignore[no-untyped-def]
    contract = json.loads(CONTRACT.read_text())
    served = wallet.anon.get("/openapi.json").json()
    for path, ops in contract["paths"].items():
        assert path in served["paths"], f"{path} is not served"
        for method, op in ops.items():
            mine = served["paths"][path].get(method)
            assert mine is not None, f"{method.upper()} {path} is not served"
            missing = set(op["responses"]) - set(mine["responses"])
            assert not missing, f"{method.upper()} {path} no longer documents {sorted(missing)}"
            assert _required_headers(op) == _required_headers(mine), f"{method.upper()} {path} headers"


def test_the_contract_document_lists_every_error_status_of_the_markdown() -> None:
    contract = json.loads(CONTRACT.read_text())
    transfers = contract["paths"]["/v1/transfers"]["post"]["responses"]
    assert {"201", "400", "401", "403", "404", "409", "422", "423", "429", "500", "503"} <= set(transfers)
    assert contract["paths"]["/v1/audit/ledger"]["get"]["responses"]["200"]["content"] == {
        "application/x-ndjson": {}
    }
