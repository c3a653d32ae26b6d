"""``python -m walletchaos.load CONFIG.json``: drive the wallet with Locust along the scenario's shape
(with ``workers`` in the config: as Locust's master of that many workers, ``distributed``).
``python -m walletchaos.load --worker HOST:PORT``: one worker of such a run."""

import json
import logging
import signal
import sys
import time
from pathlib import Path
from typing import Any

import gevent
from locust.env import Environment
from pydantic import ValidationError

from .. import gcpause
from .config import LoadConfig
from .distributed import Master, work
from .recorder import Recorder
from .users import configure


def main(config_path: str) -> int:
    try:
        config = LoadConfig.model_validate_json(Path(config_path).read_text())
    except ValidationError as exc:  # the engine wrote it through the same model: a version mismatch
        print(f"{config_path}: not a load config: {exc}", file=sys.stderr)
        return 2
    assert config.history is not None, "the load process writes the history"
    # stderr is the run's logs/load.log: Locust's own lines (spawning, stopping, errors) and ours
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log = logging.getLogger("walletchaos.load")
    # buffered, flushed every second (``report``) and at the end: a load process killed outright leaves a
    # readable history up to its last second (at most the last line is cut, and history.read skips it), and
    # a run whose load process did not end cleanly is not judged valid anyway (``load ran``, ``no_phantoms``).
    # Line-buffered, the write system call per record cost ~3% of this process's CPU (15 us a record in a
    # loaded run, against ~2 us with the buffer and its flushes).
    recorder = Recorder(open(config.history, "w", buffering=1 << 16), config.origin_ns)  # noqa: SIM115
    user_class, shape, clock, arrivals = configure(config, recorder)
    load = config.load
    env = Environment(user_classes=[user_class], shape_class=shape, stop_timeout=load.client_timeout + 1)
    workers = config.workers
    master: Master | None = None
    if workers is not None and workers.total:
        bind = "127.0.0.1" if workers.remote == 0 else workers.bind
        master_runner = env.create_master_runner(bind, workers.port)
        master = Master(master_runner, recorder, config, workers.total, workers.local)
        master.start_local(workers.local)
        address = f"{bind}:{master_runner.server.port}"
        say = f"Locust master on {address}: {workers.local} worker(s) here"
        if workers.remote:
            say += f", waiting for {workers.remote} more (walletchaos worker --master {address})"
        log.info(say)
        print(json.dumps({"event": say}), flush=True)
        if not master.wait_ready(workers.wait):
            say = f"{master.seats.short()}: no load"
            log.error(say)
            print(json.dumps({"event": say}), flush=True)
            master.stop_local()
            master_runner.quit()
            recorder.close()
            return 3
    runner = master.runner if master is not None else env.create_local_runner()
    stop = runner.stop if master is not None else runner.quit  # a master collects its workers' records
    web = None
    if config.web_port:  # `walletchaos run --web`: Locust's own UI, on the loopback only
        web = env.create_web_ui(host="127.0.0.1", port=config.web_port)
        gevent.sleep(0.2)  # the server binds in its greenlet
        url = f"http://127.0.0.1:{config.web_port}"
        log.info("Locust web UI on %s (live while the load runs)", url)
        print(json.dumps({"event": f"Locust web UI on {url} (live while the load runs)"}), flush=True)
    gevent.signal_handler(signal.SIGTERM, lambda: gevent.spawn(stop))
    gcpause.settle()  # before time 0: its full collection is no pause of the load's
    started = time.monotonic()
    last_phase: list[Any] = [None]

    def report() -> None:
        while True:
            gevent.sleep(1.0)
            recorder.flush()
            line = {
                "t": round(time.monotonic() - started, 2),
                "users": runner.user_count,
                "phase": shape.current_phase,
                "completed": recorder.completed,
                "dropped": sum((master.dropped if master else arrivals.dropped).values()),
                **recorder.take_window(),
            }
            print(json.dumps(line), flush=True)
            if line["phase"] != last_phase[0]:
                log.info(
                    "phase %s: %d users, %d ops completed so far",
                    line["phase"],
                    line["users"],
                    line["completed"],
                )
                last_phase[0] = line["phase"]
            if recorder.completed >= load.max_ops:
                log.warning("max_ops reached (%d): stopping the load", recorder.completed)
                print(json.dumps({"event": "max_ops", "completed": recorder.completed}), flush=True)
                stop()
                return

    reporter = gevent.spawn(report)
    # time 0 of the scenario: the engine schedules faults from here (same monotonic clock, same origin)
    start_ns = recorder.now()
    clock.start_ns = start_ns
    if master is not None:
        master.start(start_ns)  # before the first spawn message: same connection, so it arrives first
    print(json.dumps({"event": "shape_started", "at_ns": start_ns}), flush=True)
    runner.start_shape()
    dispatcher = gevent.spawn(arrivals.run, start_ns) if arrivals.any and master is None else None
    if runner.shape_greenlet is not None:
        runner.shape_greenlet.join()
    done: dict[str, Any] = {}
    if master is not None:
        runner.stop()  # at the shape's end it has; after SIGTERM or max_ops it may still be stopping
        master.wait_done(load.client_timeout + 15)
        done["distributed"] = master.books.summary()
        master.stop_local()
    runner.quit()
    reporter.kill()
    if dispatcher is not None:
        dispatcher.kill()
    recorder.close()
    if web is not None:
        web.stop()  # type: ignore[no-untyped-call]
    counts = master.books.counts() if master is not None else arrivals.counts()
    log.info(
        "done: %d ops completed in %.1f s %s", recorder.completed, time.monotonic() - started, counts or ""
    )
    print(json.dumps({"event": "done", "completed": recorder.completed, **counts, **done}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(work(sys.argv[2]) if sys.argv[1] == "--worker" else main(sys.argv[1]))
