"""P1: how close is the reference wallet to its database's own limit? On ONE throwaway PostgreSQL cluster
(the local runtime's settings), measures pgbench's tpcb-like TPS and then the wallet's transfers/s with the
same number of closed-loop clients, and prints their ratio (the baseline is pgbench in the same run).

The wallet is driven by wrk (C, one request in flight per connection, like a pgbench client) with a Lua
script: random payer among 500 logged-in accounts, random payee among 1,000, a fresh Idempotency-Key per
request, amount 1. Any answer other than 201 counts as an error. The KDF is made cheap for the logins of
the set-up only (``--set kdf_log2_n=4``); every other setting is the wallet's default, risk limits
included (500 payers keep each far under the 20 transfers/s frequency rule at ~2k tps; with 200, ~1% of
the answers were that rule's 429s). pgbench runs ``-M prepared`` at scale 32 (32 branches: 8 or 32 clients
rarely wait on one row).

Goal (issue 11): wallet >= 0.5x pgbench, floor 0.3x, p99 < 50 ms at 8 clients.

    .venv/bin/python bench/wallet_vs_pgbench.py [--seconds 15] [--clients 8,32] [--workers 1]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import _child
import _wallet
import httpx
from _figure import figure

from walletchaos.stack.postgres import PostgresCluster

LUA = r"""
local accounts, n, prefix = {}, 0, ""
errors = 0  -- global: done() reads it per thread with thread:get
local payees = tonumber(os.getenv("BENCH_PAYEES"))
function setup(thread)
  thread:set("tid", tostring(math.random(1, 1000000000)))
  table.insert(threads, thread)
end
function init(args)
  for line in io.lines(args[1]) do
    local id, tok = line:match("(%d+) (%S+)")
    table.insert(accounts, {id = tonumber(id), tok = tok})
  end
  prefix = args[2] .. "-" .. tid
  math.randomseed(tonumber(tid))
end
function request()
  n = n + 1
  local a = accounts[math.random(#accounts)]
  local b = a.id
  while b == a.id do b = payees + math.random(0, 999) end
  local body = string.format('{"from":%d,"to":%d,"amount":1,"currency":"CNY"}', a.id, b)
  return wrk.format("POST", "/v1/transfers", {["Authorization"] = "Bearer " .. a.tok,
    ["Idempotency-Key"] = prefix .. "-" .. n, ["Content-Type"] = "application/json"}, body)
end
function response(status, headers, body)
  if status ~= 201 then errors = errors + 1 end
end
threads = {}
function done(summary, latency, requests)
  local errs = 0
  for _, t in ipairs(threads) do errs = errs + t:get("errors") end
  io.write(string.format('RESULT {"requests":%d,"seconds":%f,"errors":%d,"socket_errors":%d,' ..
    '"p50_ms":%f,"p99_ms":%f}\n', summary.requests, summary.duration / 1e6, errs,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
"""


def pgbench(cluster: PostgresCluster, clients: int, seconds: int) -> float:
    flags = ["-M", "prepared", "-c", str(clients), "-j", "2", "-T", str(seconds), "-n"]
    out = _wallet.pg(cluster, "pgbench", *flags, "postgres")
    found = re.search(r"tps = ([\d.]+)", out)
    assert found, out
    return float(found.group(1))


def accounts(url: str, work: Path) -> tuple[Path, int]:
    """1,000 accounts (500 of them payers, logged in); returns the token file and the first payee id."""
    admin = {"Authorization": f"Bearer {_wallet.ADMIN}"}
    ids: list[int] = []
    with httpx.Client(base_url=url, timeout=30) as c:
        # 100 accounts a request: 500 in one could outlast the wallet's 0.75 s request deadline in a slow
        # moment, and its 503 (nothing applied) is retried
        for batch, part in ((b, p) for b in range(2) for p in range(5)):
            body = {"accounts": [{"username": f"b{batch}-{i}", "password": "pw", "balance": 10**12}
                                 for i in range(part * 100, part * 100 + 100)]}  # fmt: skip
            for _ in range(3):
                r = c.post("/v1/admin/accounts", json=body, headers=admin)
                if r.status_code != 503:
                    break
            r.raise_for_status()
            ids += [a["id"] for a in r.json()["accounts"]]
        lines = []
        for batch, i in ((0, i) for i in range(500)):
            r = c.post("/v1/sessions", json={"username": f"b{batch}-{i}", "password": "pw"})
            r.raise_for_status()
            lines.append(f"{r.json()['account_id']} {r.json()['token']}")
    tokens = work / "tokens.txt"
    tokens.write_text("\n".join(lines) + "\n")
    return tokens, min(ids)


def wrk(url: str, script: Path, tokens: Path, first: int, clients: int, seconds: int) -> dict[str, float]:
    threads = min(2, clients)
    out = subprocess.run(
        ["wrk", "-t", str(threads), "-c", str(clients), "-d", f"{seconds}s", "--latency", "-s", str(script),
         url, "--", str(tokens), f"k{time.time_ns()}"],
        capture_output=True, text=True, check=True, env={"BENCH_PAYEES": str(first), "PATH": "/usr/bin:/bin"},
    ).stdout  # fmt: skip
    found = re.search(r"RESULT (\{.*\})", out)
    assert found, out
    result: dict[str, float] = json.loads(found.group(1))
    result["tps"] = result["requests"] / result["seconds"]
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=int, default=15)
    ap.add_argument("--clients", default="8,32")
    ap.add_argument("--workers", type=int, default=1, help="wallet worker processes")
    args = ap.parse_args()
    if subprocess.run(["which", "wrk"], capture_output=True).returncode != 0:
        sys.exit("wrk is not installed: run `make bench` (or `bash scripts/setup.sh --with-bench`)")
    clients = [int(c) for c in args.clients.split(",")]
    work = _child.workdir("walletchaos-bench-")
    with _wallet.cluster() as cluster:
        _wallet.pg(cluster, "pgbench", "-i", "-q", "-s", "32", "postgres")
        base = {c: pgbench(cluster, c, args.seconds) for c in clients}
        with _wallet.wallet(cluster, args.workers) as (wallet, url):
            tokens, first = accounts(url, work)
            script = work / "transfer.lua"
            script.write_text(LUA)
            wrk(url, script, tokens, first, clients[0], 3)  # warm-up: pools, caches, prepared statements
            print(f"P1 wallet vs pgbench (same cluster, {args.seconds}s each, wallet workers={args.workers})")
            print(f"{'clients':>8} {'pgbench tps':>12} {'wallet tps':>11} {'ratio':>6} {'p50 ms':>7} "
                  f"{'p99 ms':>7} {'errors':>7} {'wallet cpu ms/op':>17} {'db cpu ms/op':>13}")  # fmt: skip
            assert wallet.proc is not None and cluster.proc.proc is not None
            pids = (wallet.proc.pid, cluster.proc.proc.pid)
            for c in clients:
                cpu = [_wallet.cpu_seconds(p) for p in pids]
                got = wrk(url, script, tokens, first, c, args.seconds)
                errors = got["errors"] + got["socket_errors"]
                per_op = [
                    1000 * (_wallet.cpu_seconds(p) - was) / got["requests"]
                    for p, was in zip(pids, cpu, strict=True)
                ]
                value = f"{got['tps']:.0f} tps, p99 {got['p99_ms']:.0f} ms"
                ratio = got["tps"] / base[c]
                figure(f"P1 wallet vs pgbench, {c} clients", value, f"pgbench {base[c]:.0f}", ratio, ">= 0.3")
                print(f"{c:>8} {base[c]:>12.0f} {got['tps']:>11.0f} {got['tps'] / base[c]:>6.2f} "
                      f"{got['p50_ms']:>7.1f} {got['p99_ms']:>7.1f} {errors:>7.0f} {per_op[0]:>17.2f} "
                      f"{per_op[1]:>13.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
