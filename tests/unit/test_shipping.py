"""Distributed load without a network: the worker's outbox, the master's accounting of shipped records, the
clock a worker reads, the split of the shape and of the arrivals, and the judge's "history complete"."""

from __future__ import annotations

import io
import json
from typing import Any

from tests.unit.builders import Book, scenario
from walletchaos import judge
from walletchaos.load.arrivals import ShapeClock, schedule, share
from walletchaos.load.recorder import Outbox, Recorder
from walletchaos.load.shipping import Accounting, Seats, claims_local, worker_origin
from walletchaos.ops import Fn, Kind, Op
from walletchaos.scenario import Phase

S = 10**9
PHASES: list[Phase] = [
    Phase.model_validate({"phase": "warm", "for": 2.0, "users": 5, "rate": 2.0, "arrivals": None}),
    Phase.model_validate({"phase": "busy", "for": 2.0, "users": 5, "rate": 8.0}),
    Phase.model_validate({"phase": "peak", "for": 2.0, "users": 50, "arrivals": 300}),
]


def test_the_outbox_counts_records_by_line_and_a_batch_put_back_goes_first() -> None:
    box = Outbox()
    rec = Recorder(box, 0)
    op = rec.invoke(3, "pay", {"key": "k"})
    rec.complete(3, op, "pay", "ok", 201, None, {"id": "t1"}, 0)
    text, count = box.drain()
    assert count == 2 and len(text.splitlines()) == 2
    assert box.drain() == ("", 0)
    rec.invoke(3, "balance", {})
    box.undrain(text, count)  # could not be sent: kept, in order, counted by its lines
    again, n = box.drain()
    assert n == 3 and again.startswith(text)


def test_the_recorder_absorbs_shipped_records_and_their_live_counters() -> None:
    out = io.StringIO()
    rec = Recorder(out, 0)
    window = {"ok": 1, "fail": 1, "info": 0, "unavailable": 1, "latencies": [5.0]}
    rec.absorb("a\nb\n", window)
    rec.absorb("c\n", window)
    assert out.getvalue() == "a\nb\nc\n" and rec.completed == 4
    live = rec.take_window()
    assert live["ok"] == 2 and live["unavailable"] == 2 and live["p99_ms"] == 5.0


def test_the_accounting_compares_what_arrived_with_what_each_worker_said_it_shipped() -> None:
    books = Accounting(2)
    books.received(0, 2)
    books.received(1, 1)
    books.said({"index": 0, "records": 2, "batches": 1, "arrivals": {"peak": 5}})
    silent = books.summary()
    assert silent["reported"] == 1 and silent["workers"][1]["reported"] is None and not books.all_said
    assert books.counts() == {}, "arrivals are not summed while a worker has not said"
    books.said({"index": 1, "records": 4, "batches": 2, "arrivals": {"peak": 7}, "dropped": {"peak": 1}})
    short = books.summary()
    assert short["reported"] == 2 and short["records_missing"] == 3, "worker 1 said 4, 1 arrived"
    assert short["workers"][1] == {
        "index": 1,
        "received": 1,
        "reported": 4,
        "batches_received": 1,
        "batches_reported": 2,
    }
    assert books.counts() == {"arrivals": {"peak": 12}, "dropped": {"peak": 1}}


def test_a_worker_on_this_boot_shares_the_clock_and_one_elsewhere_takes_the_masters_reading() -> None:
    assert worker_origin(123, 5 * S, "boot-a", here="boot-a") == 123
    import time

    before = time.monotonic_ns()
    origin = worker_origin(123, 5 * S, "boot-a", here="boot-b")
    assert before - 5 * S <= origin <= time.monotonic_ns() - 5 * S
    assert worker_origin(123, 5 * S, "", here="") != 123, "an unknown boot is never assumed to be the same"


def test_the_shape_clock_gives_every_process_the_same_phase_from_the_start_time() -> None:
    clock = ShapeClock(PHASES)
    assert clock.rate(0) == 2.0, "before the start: the first phase"
    clock.start_ns = 10 * S
    assert clock.phase(11 * S).phase == "warm" and clock.rate(13 * S) == 8.0
    assert clock.phase(99 * S).phase == "peak", "after the end: the last phase"


def test_workers_share_the_arrivals_between_them_with_none_run_twice_or_lost() -> None:
    full = list(schedule(PHASES, 0, "7:arrivals"))
    parts = [list(share(full, index, 3)) for index in range(3)]
    assert all(p == sorted(p) for p in parts), "each worker's share stays in time order"
    assert sorted(a for p in parts for a in p) == sorted(full)
    assert max(map(len, parts)) - min(map(len, parts)) <= 1


def _complete(distributed: dict[str, Any]) -> judge.Result:
    book = Book({1: 100, 2: 0})
    book.transfer("k1", 1, 2, 5)
    records = book.records()
    value = {"returncode": 0, "clean": True, "distributed": distributed}
    records += [
        Op("harness", 1, Kind.INVOKE, Fn.LOAD_EXIT, book.tick(), {}).record(),
        Op("harness", 1, Kind.OK, Fn.LOAD_EXIT, book.tick(), value).record(),
    ]
    for i, r in enumerate(records):
        r["index"] = i
    verdict = judge.check(scenario(), records, book.audit())
    return next(r for r in verdict.results if r.name == "history complete")


def _worker(index: int, received: int, reported: int | None) -> dict[str, Any]:
    return {"index": index, "received": received, "reported": reported}


def test_the_history_is_complete_only_when_every_worker_accounted_for_every_record() -> None:
    whole = {
        "expected": 2,
        "reported": 2,
        "records_missing": 0,
        "workers": [_worker(0, 4, 4), _worker(1, 6, 6)],
    }
    ok = _complete(whole)
    assert ok.valid is True and ok.exercised == 10 and "10 records from 2 worker(s)" in ok.summary
    lost = {**whole, "records_missing": 2, "workers": [_worker(0, 4, 6), _worker(1, 6, 6)]}
    r = _complete(lost)
    assert r.valid is None and r.count == 2 and "2 history record(s) missing" in r.summary
    silent = {**whole, "reported": 1, "workers": [_worker(0, 4, 4), _worker(1, 6, None)]}
    r = _complete(silent)
    assert r.valid is None and "worker(s) 1 never said" in r.summary
    json.dumps(r.details)  # goes into verdict.json as it is


def _config(**over: Any) -> Any:
    from walletchaos.load.config import Account, Accounts, LoadConfig, Workers
    from walletchaos.scenario import Load

    shape = [
        {"phase": "warm", "for": "2s", "users": 5, "rate": 3},
        {"phase": "peak", "for": "2s", "users": 50, "arrivals": [100, 300]},
    ]
    base: dict[str, Any] = {
        "ingress_urls": ["http://127.0.0.1:1"],
        "pinned": False,
        "origin_ns": 5,
        "seed": 7,
        "tag": "t",
        "accounts": Accounts(
            users=[Account(id="b1f0-uuid", username="u", password="p")],
            merchants=[Account(id=3, username="m", password="p")],
        ),
        "currency": "CNY",
        "history": "/tmp/h.jsonl",
        "load": Load.model_validate({"shape": shape}),
        "web_port": 8089,
        "workers": Workers(local=2),
    }
    return LoadConfig(**{**base, **over})


def test_the_load_config_reads_back_through_the_same_model_on_the_load_side_and_on_workers() -> None:
    from pydantic import ValidationError

    from walletchaos.load.config import LoadConfig, Seat

    config = _config()
    back = LoadConfig.model_validate_json(config.to_json())
    assert back == config, "what the engine writes is what the load process reads"
    assert back.accounts.users[0].id == "b1f0-uuid" and back.accounts.merchants[0].id == 3, "ids stay opaque"
    assert back.load.shape[1].arrivals == (100, 300) and back.load.shape[0].rate == 3
    seat = Seat(index=1, count=2, master_now_ns=9, boot_id="b")
    sent = config.for_worker(seat).model_dump(mode="json", by_alias=True, exclude_unset=True)
    worker = LoadConfig.model_validate(json.loads(json.dumps(sent)))  # as the message carries it
    assert worker.history is None and worker.web_port is None and worker.workers is None
    assert worker.seat == seat and worker.load == config.load
    for bad in (
        {**json.loads(config.to_json()), "stats_every": 1},
        {**json.loads(config.to_json()), "seed": "x"},
    ):
        try:
            LoadConfig.model_validate(bad)
        except ValidationError as exc:
            assert "stats_every" in str(exc) or "seed" in str(exc)
        else:
            raise AssertionError(f"accepted {bad}")


def test_a_worker_on_another_machine_refuses_a_wallet_on_the_masters_loopback() -> None:
    from walletchaos.load.shipping import unreachable

    urls = ["http://127.0.0.1:8080", "http://[::1]:8081", "http://wallet.internal:8080"]
    assert unreachable(urls, "boot-a", here="boot-a") == [], "same machine: loopback is the run's wallet"
    assert unreachable(urls, "boot-a", here="boot-b") == urls[:2]
    assert unreachable(urls[2:], "boot-a", here="boot-b") == []


def test_the_shape_clock_knows_when_the_shape_is_over() -> None:
    clock = ShapeClock(PHASES)
    assert not clock.ended(10**15), "not started: not over"
    clock.start_ns = 10 * S
    assert not clock.ended(15 * S) and clock.ended(16 * S)  # three phases of 2 s


def test_seats_are_unique_and_a_refusing_worker_gives_its_seat_back_with_why() -> None:
    seats = Seats(2)
    assert seats.take("a") == 0 and seats.take("b") == 1 and seats.take("a") == 0
    assert seats.take("c") is None and seats.full
    seats.give_back(
        "a", "the run's wallet is at http://127.0.0.1:9, a loopback address of the master's machine"
    )
    assert not seats.full and seats.short() == (
        "only 1 of 2 workers joined (1 refused: a: the run's wallet is at http://127.0.0.1:9, "
        "a loopback address of the master's machine)"
    )
    assert seats.take("c") == 0  # the free seat, not a second 1
    assert seats.full and sorted(seats.taken.values()) == [0, 1]


def test_a_stray_worker_cannot_take_a_seat_kept_for_the_runs_own_workers_by_saying_hello_first() -> None:
    seats = Seats(3, local=2)  # run --workers 2 --remote-workers 1
    assert seats.take("remote-a") == 2
    assert seats.take("remote-b") is None  # the one remote seat is taken; the local ones are not for it
    assert seats.take("local-a", local=True) == 0 and seats.take("local-b", local=True) == 1
    assert seats.take("local-c", local=True) is None and seats.full
    only_local = Seats(1, local=1)  # run --workers 1: no seat for a worker from elsewhere at all
    assert only_local.take("stray") is None and only_local.take("own", local=True) == 0


def test_only_the_runs_token_claims_a_local_seat_and_a_strange_hello_is_no_claim() -> None:
    token = "f00d" * 8
    assert claims_local({"token": token}, token)
    for hello in (None, {}, [], "x", {"token": ""}, {"token": "f00d"}, {"token": 7}, {"token": "bad \u00e9"}):
        assert not claims_local(hello, token), hello
