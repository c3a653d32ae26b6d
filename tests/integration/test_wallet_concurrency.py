"""Thousands of concurrent transfers among a few accounts, with replays of the same keys."""

from __future__ import annotations

import asyncio
import random
from collections import Counter, defaultdict

import httpx

from tests.conftest import Wallet

START = 100_000


def _send_all(
    wallet: Wallet, tokens: dict[int, str], plan: list[tuple[str, int, int, int]]
) -> list[tuple[str, int]]:
    async def main() -> list[tuple[str, int]]:
        limits = httpx.Limits(max_connections=64)
        async with httpx.AsyncClient(base_url=wallet.url, timeout=15, limits=limits) as http:
            gate = asyncio.Semaphore(64)

            async def one(key: str, src: int, dst: int, amount: int) -> tuple[str, int]:
                async with gate:
                    r = await http.post(
                        "/v1/transfers",
                        json={"from": src, "to": dst, "amount": amount, "currency": "CNY"},
                        headers={"Idempotency-Key": key, "Authorization": f"Bearer {tokens[src]}"},
                    )
                    return key, r.status_code

            return await asyncio.gather(*(one(*p) for p in plan))

    return asyncio.run(main())


def test_concurrent_transfers_with_replays_conserve_money_and_apply_each_key_once(wallet_factory) -> None:  # type: ignore[no-untyped-def]
    wallet = wallet_factory(risk_max_tps=0)
    ids = wallet.accounts(*[(f"u{i}", START, "user") for i in range(5)])
    tokens = {i: wallet.login(f"u{n}").headers["Authorization"].split()[1] for n, i in enumerate(ids)}
    rng = random.Random(7)
    unique = []
    for n in range(1500):
        src, dst = rng.sample(ids, 2)
        unique.append((f"k{n}", src, dst, rng.randint(1, 500)))
    replays = [p for p in unique if rng.random() < 0.3 for _ in range(rng.randint(1, 2))]
    plan = unique + replays
    rng.shuffle(plan)

    results = _send_all(wallet, tokens, plan)

    statuses = Counter(code for _, code in results)
    assert set(statuses) <= {201, 409}, statuses  # 409 only as idempotency_key_in_progress of a replay
    assert statuses[201] >= len(unique)
    ledger = wallet.ledger()
    snapshot = wallet.snapshot()
    assert snapshot["total"] == START * 5
    per_transfer: dict[int, list[int]] = defaultdict(list)
    keys_by_transfer: dict[int, str] = {}
    for post in ledger:
        per_transfer[post["transfer_id"]].append(post["delta"])
        keys_by_transfer[post["transfer_id"]] = post["idempotency_key"]
    assert all(len(d) == 2 and sum(d) == 0 for d in per_transfer.values())
    applied = Counter(keys_by_transfer.values())
    assert set(applied) == {k for k, *_ in unique}, "every key applied"
    assert max(applied.values()) == 1, "no key applied twice"
    replay = {a: START for a in ids}
    for post in ledger:
        replay[post["account"]] += post["delta"]
    assert {a["id"]: a["balance"] for a in snapshot["accounts"]} == replay
