"""The wallet-side series: Prometheus text parsed as the scraper stores it, counters turned into rates per
1 s bin summed over replicas, a restarted replica's counter counted from zero, a failed scrape a gap."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from reports.wallet_metrics import build
from walletchaos.scrape import MetricsScraper, parse

TEXT = """# HELP wallet_requests Requests by endpoint and status
# TYPE wallet_requests counter
wallet_requests_total{endpoint="/v1/transfers",status="200"} 100.0
wallet_requests_created{endpoint="/v1/transfers",status="200"} 1.7e9
wallet_requests_total{endpoint="/readyz",status="200"} 50.0
# TYPE wallet_request_seconds histogram
wallet_request_seconds_bucket{endpoint="/v1/transfers",le="0.1"} 90.0
wallet_request_seconds_count{endpoint="/v1/transfers"} 100.0
# TYPE wallet_pool_connections gauge
wallet_pool_connections 10.0
"""


def test_parse_keeps_samples_by_name_and_labels_without_buckets() -> None:
    samples = parse(TEXT)
    assert samples['wallet_requests_total{endpoint="/v1/transfers",status="200"}'] == 100.0
    assert samples['wallet_request_seconds_count{endpoint="/v1/transfers"}'] == 100.0
    assert samples["wallet_pool_connections"] == 10.0
    assert not [k for k in samples if "_bucket" in k or "_created" in k]


def _line(t: float, replica: int, ok200: float, s503: float = 0, pool: float = 10, idle: float = 4) -> str:
    samples = {
        'wallet_requests_total{endpoint="/v1/transfers",status="200"}': ok200,
        'wallet_requests_total{endpoint="/v1/transfers",status="503"}': s503,
        'wallet_requests_total{endpoint="/readyz",status="200"}': 10 * t,
        'wallet_db_errors_total{kind="timeout"}': s503,
        "wallet_pool_connections": pool,
        "wallet_pool_idle_connections": idle,
    }
    return json.dumps({"t": t, "replica": replica, "samples": samples})


def test_rates_per_bin_are_summed_over_replicas_and_survive_a_restart(tmp_path: Path) -> None:
    lines = [
        _line(0.1, 0, 0),
        _line(0.2, 1, 0),
        _line(1.1, 0, 100),
        _line(1.2, 1, 50),
        json.dumps({"t": 2.1, "replica": 0, "error": "ConnectError"}),  # replica 0 killed: a gap
        _line(2.2, 1, 100, s503=5),
        _line(3.1, 0, 30),  # restarted: its counter began again from 0
        _line(3.2, 1, 150, s503=5),
    ]
    (tmp_path / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    w = build(tmp_path)
    assert w.charted and w.scrapes == 7 and w.failed == 1
    assert w.bins == [0.0, 1.0, 2.0, 3.0]
    ok = w.requests["200"]
    assert ok[0] is None  # nothing to take a rise from yet
    assert round(ok[1] or 0) == 150  # 100/s on replica 0 + 50/s on replica 1
    assert round(ok[2] or 0) == 50  # replica 0 missing: its share is not invented
    assert round(ok[3] or 0) == 15 + 50  # replica 0 restarted: 30 since, over the 2 s since its last scrape
    assert set(w.requests) == {"200", "503"}, "health checks are not wallet traffic"
    assert round(w.db_errors["timeout"][2] or 0) == 5
    assert w.pool_in_use[0] == ([0.1, 1.1, 3.1], [6.0, 6.0, 6.0])


def test_a_wallet_without_metrics_is_asked_once(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404)

    scraper = MetricsScraper(lambda: ["http://127.0.0.1:9"], tmp_path / "metrics.jsonl", lambda: 0.0)
    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        assert scraper.scrape(client, 0, "http://127.0.0.1:9") == {"t": 0.0, "replica": 0, "absent": 404}
    assert scraper.absent == {0}
    (tmp_path / "metrics.jsonl").write_text(json.dumps({"t": 0.0, "replica": 0, "absent": 404}) + "\n")
    w = build(tmp_path)
    assert not w.charted and w.absent == [0] and w.scrapes == 0


def test_each_replicas_own_traffic_over_time(tmp_path: Path) -> None:
    lines = [_line(0.1, 0, 0), _line(0.2, 1, 0), _line(1.1, 0, 100, s503=10), _line(1.2, 1, 50)]
    (tmp_path / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    w = build(tmp_path)
    assert [round(v or 0) for v in w.per_replica[0]] == [0, 110]  # 200s and 503s: all its /v1 answers
    assert [round(v or 0) for v in w.per_replica[1]] == [0, 50]
