"""examples/ci/github-actions.yml works as written: the Go it sets up builds the Toxiproxy setup.sh pins,
the JUnit action may publish, the artifacts skip the `latest` links, and the compare gate is enabled and
reads what the baseline job stored."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = yaml.safe_load((ROOT / "examples/ci/github-actions.yml").read_text())


def _steps(job: str) -> list[dict[str, object]]:
    return list(EXAMPLE["jobs"][job]["steps"])


def test_go_version_builds_the_pinned_toxiproxy() -> None:
    pinned = re.search(r"^TOXIPROXY_VERSION=(\S+)", (ROOT / "scripts/setup.sh").read_text(), re.M)
    assert pinned
    gomod = next(ROOT.glob(f"tools/gopath/pkg/mod/github.com/!shopify/toxiproxy/v2@{pinned[1]}/go.mod"), None)
    needed = "1.23"  # Toxiproxy v2.12.0's go.mod: `go 1.23.0`
    if gomod is not None:  # the module setup.sh built (this machine): read what it really asks for
        found = re.search(r"^go (\d+\.\d+)", gomod.read_text(), re.M)
        assert found
        needed = found[1]
    for job in EXAMPLE["jobs"]:
        go = next(s for s in _steps(job) if str(s.get("uses", "")).startswith("actions/setup-go"))
        have = str(go["with"]["go-version"])  # type: ignore[index]
        assert tuple(map(int, have.split("."))) >= tuple(map(int, needed.split("."))), (job, have, needed)


def test_permissions_uploads_and_the_gate() -> None:
    assert EXAMPLE["permissions"]["checks"] == "write" and EXAMPLE["permissions"]["actions"] == "read"
    uploads = [s for job in EXAMPLE["jobs"] for s in _steps(job) if "upload-artifact" in str(s.get("uses"))]
    assert len(uploads) == 2
    for step in uploads:
        paths = str(step["with"]["path"]).split()  # type: ignore[index]
        root = paths[0].rstrip("/")
        assert {f"!{root}/latest", f"!{root}/*/latest"} <= set(paths), "no run uploaded twice"
    baseline_run = next(s for s in _steps("baseline") if "--repeat" in str(s.get("run", "")))
    assert "--out baseline" in str(baseline_run["run"])
    gate = next(s for s in _steps("gate") if "walletchaos compare" in str(s.get("run", "")))
    assert 'compare "baseline/$name" runs/latest' in str(gate["run"])
    download = next(s for s in _steps("gate") if "download-artifact" in str(s.get("uses")))
    assert download["with"]["name"] == "walletchaos-baseline"  # type: ignore[index]
