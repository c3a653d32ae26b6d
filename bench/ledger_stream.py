"""How fast does the audit ledger come out? Fills the reference wallet's ledger with N postings (SQL, straight
into its database), then times: PostgreSQL's own COPY of the same rows (the baseline, same run), the wallet's
``GET /v1/audit/ledger`` read raw, and the harness's ``WalletAdmin.ledger_to`` (read, checked a batch at a
time and written to a file: what a run does twice after the load). Prints postings/s and the ratio to
COPY. Goal (issue 11): >= 100k postings/s from the wallet.

    .venv/bin/python bench/ledger_stream.py [--postings 200000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import _wallet
import httpx
from _figure import figure

from walletchaos.client import WalletAdmin

FILL = """
INSERT INTO accounts (username, password_hash, kind, currency, balance)
SELECT 'fill' || i, 'x', 'user', 'CNY', 0 FROM generate_series(1, 2) i;
INSERT INTO transfers (idempotency_key, request_hash, from_id, to_id, amount, currency)
SELECT 'key-' || i, 'h', 1, 2, 1 + i % 1000, 'CNY' FROM generate_series(1, {transfers}) i;
INSERT INTO ledger (transfer_id, idempotency_key, account_id, delta)
SELECT t.id, t.idempotency_key, leg.account, leg.sign * t.amount
FROM transfers t, (VALUES (1, -1), (2, 1)) leg(account, sign) ORDER BY t.id, leg.account;
"""
COPY = (
    "\\copy (SELECT seq, transfer_id, idempotency_key, account_id, delta, created_at FROM ledger "
    "ORDER BY seq) TO '/dev/null'"
)


def timed(what: str, postings: int, seconds: float, base: float | None) -> float:
    rate = postings / seconds
    ratio = f"  ratio to COPY {rate / base:.2f}" if base else ""
    print(f"{what:<44} {postings:>9} postings in {seconds:6.2f} s = {rate:>9,.0f}/s{ratio}")
    return rate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--postings", type=int, default=200_000)
    args = ap.parse_args()
    with _wallet.cluster() as cluster, _wallet.wallet(cluster) as (_, url):
        db = ["-d", "wallet", "-v", "ON_ERROR_STOP=1", "-q"]
        _wallet.pg(cluster, "psql", *db, "-c", FILL.format(transfers=args.postings // 2))
        _wallet.pg(cluster, "psql", *db, "-c", "VACUUM ANALYZE")
        n = args.postings // 2 * 2
        started = time.perf_counter()
        _wallet.pg(cluster, "psql", *db, "-c", COPY)
        base = timed("PostgreSQL COPY (psql, baseline)", n, time.perf_counter() - started, None)

        started = time.perf_counter()
        lines = 0
        auth = {"Authorization": f"Bearer {_wallet.ADMIN}"}
        with httpx.stream("GET", f"{url}/v1/audit/ledger", headers=auth, timeout=120) as r:
            r.raise_for_status()
            for chunk in r.iter_bytes():
                lines += chunk.count(b"\n")
        assert lines == n, f"the wallet streamed {lines} postings, the database holds {n}"
        raw = timed("wallet GET /v1/audit/ledger (raw)", n, time.perf_counter() - started, base)
        figure(
            "audit ledger stream", f"{raw:,.0f} postings/s", f"COPY {base:,.0f}/s", raw / base, ">= 100k/s"
        )

        admin = WalletAdmin(url, _wallet.ADMIN, timeout_s=120)
        with tempfile.TemporaryDirectory(prefix="walletchaos-ledger-bench-") as tmp:
            started = time.perf_counter()
            with open(Path(tmp) / "ledger.jsonl", "w") as out:
                got, _ = admin.ledger_to(out)
            assert got == n, f"the harness read {got} postings, the database holds {n}"
            timed(
                "harness WalletAdmin.ledger_to (read, check, write)", n, time.perf_counter() - started, base
            )
        admin.close()


if __name__ == "__main__":
    main()
