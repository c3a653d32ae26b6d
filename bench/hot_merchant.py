"""Does a hot merchant serialize the wallet? Runs steady payments (half of them to merchant 0, as at a
promotion) through the whole stack with 30 ms (+-10 ms) of database latency in the middle, and prints the
hot merchant's acknowledged payments per second before the fault (the baseline, same run) and during it,
and their ratio. Goal (issue 11): >= 0.5.

    .venv/bin/python bench/hot_merchant.py [--users 40] [--rate 4]
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter

import _child
import _scenario
from _figure import figure
from _scenario import SECOND


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=int, default=40)
    ap.add_argument("--rate", type=float, default=4.0, help="ops/s per user (all of them payments)")
    args = ap.parse_args()
    users = args.users
    steady = {"phase": "steady", "for": "26s", "users": users, "spawn_rate": users, "rate": args.rate}
    lag = {"latency": 30, "jitter": 10}
    scenario = {
        "name": "hot_merchant",
        "seed": 11,
        "wallet": {"replicas": 2},
        "accounts": {"users": 200, "merchants": 10, "hot_merchant_share": 0.5, "attack_targets": 0},
        "load": {"client_timeout": "2s", "mix": {"pay": 100}, "shape": [steady]},
        "faults": [{"at": "10s", "for": "10s", "fault": "network.latency", "target": "db", "params": lag}],
    }
    run_dir, records = _scenario.run(scenario, _child.workdir("wc-hot-"))
    nemesis = [r for r in records if r["process"] == "nemesis"]
    applied = [r["time"] for r in nemesis if r["f"] == "apply" and r["type"] == "ok"]
    healed = [r["time"] for r in nemesis if r["f"] == "heal" and r["type"] == "invoke"]
    oks = [(inv, end) for inv, end in _scenario.client_ops(records, {"pay"}) if end["type"] == "ok"]
    if not applied or not healed or not oks:
        print(f"nothing to measure in {run_dir}: fault applied {len(applied)}, healed {len(healed)}, "
              f"acknowledged payments {len(oks)}")  # fmt: skip
        return 1
    hot = Counter(inv["value"]["to"] for inv, _ in oks).most_common(1)[0][0]
    start = min(r["time"] for r in records if r["type"] == "invoke")
    fault_from, fault_to = applied[0], healed[0]
    before = (start + 3 * SECOND, fault_from)  # every user started
    during = (fault_from + SECOND, fault_to)  # past the first second's queue

    def rate(window: tuple[int, int], only_hot: bool) -> float:
        n = sum(1 for inv, ok in oks if window[0] <= ok["time"] < window[1]
                and (inv["value"]["to"] == hot or not only_hot))  # fmt: skip
        return n / ((window[1] - window[0]) / SECOND)

    hot_before, hot_during, all_before, all_during = (
        rate(w, only) for only in (True, False) for w in (before, during)
    )
    print(
        f"hot merchant {hot}: {hot_before:.1f} acknowledged payments/s before the fault, "
        f"{hot_during:.1f}/s during 30 ms db latency; ratio {hot_during / hot_before:.2f} (goal >= 0.5)\n"
        f"all payments: {all_before:.1f}/s -> {all_during:.1f}/s ({all_during / all_before:.2f}); {run_dir}"
    )
    figure("hot merchant under 30 ms db latency", f"{hot_during:.0f}/s", f"{hot_before:.0f}/s before",
           hot_during / hot_before, ">= 0.5")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
