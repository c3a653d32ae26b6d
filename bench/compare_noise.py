"""How often `walletchaos compare` flags runs of the same code and seed (a false regression): runs SCENARIO
``--repeat BASE+CANDIDATES`` times, then compares (a) each of the last CANDIDATES runs against a baseline
folder of the first BASE runs, and (b) each consecutive pair of single runs. Goal: no flag with a 3-run
baseline. Not part of `make test` (about 35 s a smoke run).

    .venv/bin/python bench/compare_noise.py [SCENARIO] [--base 3] [--candidates 10] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

import _child

CLI = [sys.executable, "-m", "walletchaos"]


def flagged(base: Path, run: Path) -> list[str]:
    done = subprocess.run([*CLI, "compare", str(base), str(run), "--json"], capture_output=True, text=True)
    return list(json.loads(done.stdout)["regressed"]) if done.stdout.strip() else ["compare failed"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("scenario", nargs="?", default="scenarios/smoke.yaml")
    ap.add_argument("--base", type=int, default=3)
    ap.add_argument("--candidates", type=int, default=10)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    out = args.out or _child.workdir("wc-noise-")
    total = args.base + args.candidates
    _child.run([*CLI, "run", args.scenario, "--repeat", str(total), "--out", str(out)])
    folder = next(p for p in out.iterdir() if p.is_dir() and not p.is_symlink())
    runs = sorted(p for p in folder.iterdir() if p.is_dir() and not p.is_symlink() and p.name[0].isdigit())
    if len(runs) != total:
        raise SystemExit(f"expected {total} runs in {folder}, found {len(runs)}")
    base = out / "baseline-set"
    for r in runs[: args.base]:
        shutil.copytree(r, base / r.name)
    set_flags = [(r.name, flagged(base, r)) for r in runs[args.base :]]
    pairs = zip(runs[args.base - 1 :], runs[args.base :], strict=False)
    pair_flags = [(b.name, flagged(a, b)) for a, b in pairs]
    for title, rows in (("vs the baseline set", set_flags), ("consecutive single runs", pair_flags)):
        print(f"{title}:")
        for name, regressed in rows:
            print(f"  {name}: {'REGRESSION ' + ', '.join(regressed) if regressed else 'ok'}")
    n_set = sum(1 for _, r in set_flags if r)
    n_pair = sum(1 for _, r in pair_flags if r)
    print(
        f"FIGURE\tcompare flags same-code runs\t{n_set} of {len(set_flags)} ({args.base}-run baseline)\t"
        f"{n_pair} of {len(pair_flags)} (single-run baselines)\t-\t0 with a {args.base}-run baseline"
    )
    return 1 if n_set else 0


if __name__ == "__main__":
    sys.exit(main())
