"""The run for dashboards: metrics.om parses as OpenMetrics (prometheus_client's strict parser) with every
sample stamped at the load's start; grafana-annotations.json has a region per fault and per recovery."""

from __future__ import annotations

import json
import math
from pathlib import Path

from prometheus_client.openmetrics.parser import text_string_to_metric_families

from reports import write_all
from tests.unit.builders import recovering_book, write_run

SLO = {"recovery": {"max": "5s", "success": 0.9, "hold": "500ms"}}


def test_metrics_file_is_openmetrics_and_annotations_are_on_the_wall_clock(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run", recovering_book(600), slo=SLO)
    meta = json.loads((run / "run.json").read_text())
    (run / "run.json").write_text(json.dumps({**meta, "load_started_at": 1_800_000_000.0}))
    write_all(run)
    families = {f.name: f for f in text_string_to_metric_families((run / "metrics.om").read_text())}
    assert families["walletchaos_run"].type == "info"
    checks = {s.labels["check"]: s.value for s in families["walletchaos_check_valid"].samples}
    assert checks["conservation"] == 1 and checks["recovery: process.kill on postgres"] == 1
    recovery = families["walletchaos_fault_recovery_seconds"].samples
    assert [(s.labels["fault"], round(s.value, 1)) for s in recovery] == [("process.kill", 0.6)]
    assert all(
        s.timestamp is not None and float(s.timestamp) == 1.8e9 for f in families.values() for s in f.samples
    ), "stamped at the load's start"
    p99 = [s for s in families["walletchaos_latency_seconds"].samples if s.labels["quantile"] == "0.99"]
    assert p99 and not any(math.isnan(s.value) for s in p99)
    notes = json.loads((run / "grafana-annotations.json").read_text())
    assert [n["tags"][2] for n in notes] == ["fault", "recovery"]
    fault, rec = notes
    assert fault["isRegion"] and fault["time"] == 1_800_000_000_000  # applied at 0 s, healed at 1 s
    assert 0 <= fault["timeEnd"] - 1_800_000_001_000 <= 5
    assert rec["time"] == 1_800_000_001_000 and rec["timeEnd"] - rec["time"] == 600  # from the heal's invoke


def test_a_run_without_its_wall_clock_start_has_unstamped_samples_and_no_annotations(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run", recovering_book(200), slo=SLO)
    write_all(run)
    families = list(text_string_to_metric_families((run / "metrics.om").read_text()))
    assert families and all(s.timestamp is None for f in families for s in f.samples)
    assert json.loads((run / "grafana-annotations.json").read_text()) == []
