"""How long report.html takes to open in headless Chromium (navigation start to the load event, charts
drawn: the page records it as ``data-opened-ms``), the default page (chart library loaded from the runs'
shared asset) against the single-file page (library inlined) of the same run, rendered in this process.
Goal: under 1 s. Not part of `make test`.

    .venv/bin/python bench/report_open.py [RUN_DIR] [--times N]
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reports import write_all

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]


def opened_ms(chromium: str, page: Path, profile: Path) -> float:
    done = subprocess.run(
        [chromium, *FLAGS, f"--user-data-dir={profile}", "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    found = re.search(r'data-opened-ms="(\d+)"', done.stdout)
    if found is None:
        raise SystemExit(f"{page}: no data-opened-ms in the rendered page (did it load?)")
    return float(found[1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run_dir", nargs="?", type=Path, default=Path("runs/latest"))
    ap.add_argument("--times", type=int, default=5)
    args = ap.parse_args()
    chromium = shutil.which("chromium")
    if chromium is None or not (args.run_dir / "history.jsonl").is_file():
        raise SystemExit("needs chromium (scripts/setup.sh --with-browser) and a run directory (make demo)")
    work = Path(tempfile.mkdtemp(prefix="wc-open-"))
    try:
        results = {}
        for label, one_file in (("single file", True), ("shared asset", False)):
            run = work / label.replace(" ", "-") / "run"
            shutil.copytree(args.run_dir.resolve(), run)
            write_all(run, single_file=one_file)
            size = (run / "report.html").stat().st_size
            times = [opened_ms(chromium, run / "report.html", work / "profile") for _ in range(args.times)]
            results[label] = (statistics.median(times), size)
            print(f"{label}: {size / 1e6:.2f} MB, opened in {times} ms (median {results[label][0]:.0f})")
        shared, single = results["shared asset"][0], results["single file"][0]
        print(
            f"FIGURE\treport.html opens (ms)\t{shared:.0f}\t{single:.0f} (single file)\t"
            f"{shared / single:.2f}\t< 1000 ms, size < 1.5 MB ({results['shared asset'][1] / 1e6:.2f})"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
