"""report.html opened in a real headless Chromium (Debian's): it renders offline, the charts are drawn, no
script error; the screenshot is left in artifacts/ for a reviewer."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from reports import write_all
from tests.unit.builders import recovering_book, write_run

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--virtual-time-budget=8000",
    "--window-size=1280,2000",
]


@pytest.fixture(scope="module")
def chromium() -> str:
    found = shutil.which("chromium")
    if found is None:
        pytest.fail(
            "chromium is not installed: `make test` installs Debian's chromium through scripts/setup.sh"
        )
    return found


@pytest.fixture
def report(tmp_path: Path) -> Path:
    """A report laid out as `walletchaos run` lays it out: runs/<scenario>/<stamp>, runs/latest -> it."""
    book = recovering_book(400)
    book.transfer("dup", 1, 2, 5, kind="info", status=0, applied=True)
    book.transfer("dup", 1, 2, 5)
    run = write_run(
        tmp_path / "runs" / "demo" / "20261202T000000.00Z",
        book,
        slo={"recovery": {"max": "5s", "success": 0.9, "hold": "500ms"}},
    )
    (run / "metrics.jsonl").write_text(  # two replicas' /metrics: 100 ok/s each, replica 1 down at 2 s
        "".join(
            json.dumps(
                {"t": t / 2, "replica": r, "error": "ConnectError"}
                if (r, t) == (1, 4)
                else {
                    "t": t / 2,
                    "replica": r,
                    "samples": {
                        'wallet_requests_total{endpoint="/v1/transfers",status="200"}': 50.0 * t,
                        "wallet_pool_connections": 10.0,
                        "wallet_pool_idle_connections": 10.0 - t % 4,
                    },
                }
            )
            + "\n"
            for t in range(10)
            for r in (0, 1)
        )
    )
    write_all(run)
    (tmp_path / "runs" / "latest").symlink_to(Path("demo") / run.name)
    return run / "report.html"


def _chromium(binary: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [binary, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_report_loads_the_shared_chart_library_by_a_relative_path_only(report: Path) -> None:
    html = report.read_text()
    assert report.stat().st_size < 1_500_000, report.stat().st_size
    sources = re.findall(r"""<script[^>]*\bsrc=["']([^"']+)""", html)
    shape = r"\.\./([\w.-]+/)?assets/plotly-basic-[\d.]+\.min\.js"
    assert sources and all(re.fullmatch(shape, s) for s in sources), sources
    assert (report.parent / sources[0]).resolve().is_file(), "written beside the runs"
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html), "no external resource"
    assert not re.search(r"<link[^>]+href=", html)


def test_single_file_report_carries_the_library(report: Path) -> None:
    write_all(report.parent, single_file=True)
    html = report.read_text()
    markup = re.sub(r"<script\b[^>]*>.*?</script>", "", html, flags=re.S)  # the bundle's strings aside
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", markup), "no external resource"
    assert not re.search(r"<script[^>]+src=", html) and "Plotly" in html
    assert 1_100_000 < report.stat().st_size < 1_500_000, "the basic bundle inlined, under 1.5 MB still"


def test_report_through_the_latest_link_and_a_moved_report_in_chromium(
    chromium: str, report: Path, tmp_path: Path
) -> None:
    latest = tmp_path / "runs" / "latest" / "report.html"
    dom = _chromium(chromium, tmp_path, "--dump-dom", latest.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert len(re.findall(r'class="main-svg"', dom.stdout)) >= 4, "drawn through runs/latest as well"
    assert 'class="missing-js"' not in dom.stdout
    alone = tmp_path / "mailed" / "x"
    alone.mkdir(parents=True)
    shutil.copy(report, alone / "report.html")
    dom = _chromium(chromium, tmp_path, "--dump-dom", (alone / "report.html").as_uri())
    assert 'class="missing-js"' in dom.stdout and "--single-file" in dom.stdout, "says how to fix it"


def test_report_renders_charts_without_errors_in_chromium(
    chromium: str, report: Path, tmp_path: Path
) -> None:
    dom = _chromium(chromium, tmp_path, "--dump-dom", report.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    page = dom.stdout
    assert len(re.findall(r'class="main-svg"', page)) >= 4, "both plotly charts drawn"
    assert "process.kill @ postgres" in page, "the fault window is labelled"
    assert ">phase p<" in page, "the load phase strip is drawn"
    assert ">new text<" not in page, "no placeholder annotation"
    assert "recovered +" in page, "the recovery window is drawn and labelled"
    assert "wallet side (its /metrics)" in page and "wallet[1]: pool in use" in page, "the wallet-side rows"
    assert "wallet[0]: requests/s" in page, "each replica's traffic over time"
    assert "1 failed" in page, "a failed scrape is said"
    assert 'id="load-by_op"' in page and 'id="load-by_phase"' in page, "the load summary tables"
    assert re.search(r'<pre id="js-errors"[^>]*></pre>', page), re.search(
        r'<pre id="js-errors".*?</pre>', page, re.S
    )
    assert "exactly_once" in page and '"key": "dup"' in page  # the violation with its evidence
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "report.png"
    done = _chromium(chromium, tmp_path, f"--screenshot={shot}", report.as_uri())
    assert done.returncode == 0 and shot.stat().st_size > 20_000
