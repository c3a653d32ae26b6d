"""``python -m walletchaos.load CONFIG.json``: drive the wallet with Locust along the scenario's shape."""

import json
import logging
import signal
import sys
import time
from pathlib import Path
from typing import Any

import gevent
from locust.env import Environment

from .recorder import Recorder
from .users import configure


def main(config_path: str) -> int:
    config: dict[str, Any] = json.loads(Path(config_path).read_text())
    # stderr is the run's logs/load.log: Locust's own lines (spawning, stopping, errors) and ours
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log = logging.getLogger("walletchaos.load")
    # line-buffered: every record reaches the file when written, so a killed load process leaves a readable
    # history up to its last record (at most the last line is cut, and history.read skips it)
    recorder = Recorder(open(config["history"], "w", buffering=1), config["origin_ns"])  # noqa: SIM115
    user_class, shape, arrivals = configure(config, recorder)
    load = config["load"]
    env = Environment(user_classes=[user_class], shape_class=shape, stop_timeout=load["client_timeout"] + 1)
    runner = env.create_local_runner()
    web = None
    if config.get("web_port"):  # `walletchaos run --web`: Locust's own UI, on the loopback only
        web = env.create_web_ui(host="127.0.0.1", port=int(config["web_port"]))
        gevent.sleep(0.2)  # the server binds in its greenlet
        url = f"http://127.0.0.1:{config['web_port']}"
        log.info("Locust web UI on %s (live while the load runs)", url)
        print(json.dumps({"event": f"Locust web UI on {url} (live while the load runs)"}), flush=True)
    gevent.signal_handler(signal.SIGTERM, runner.quit)
    started = time.monotonic()
    last_phase: list[Any] = [None]

    def report() -> None:
        while True:
            gevent.sleep(config.get("stats_interval", 1.0))
            line = {
                "t": round(time.monotonic() - started, 2),
                "users": runner.user_count,
                "phase": shape.current_phase,
                "completed": recorder.completed,
                "dropped": sum(arrivals.dropped.values()),
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
            if recorder.completed >= load["max_ops"]:
                log.warning("max_ops reached (%d): stopping the load", recorder.completed)
                print(json.dumps({"event": "max_ops", "completed": recorder.completed}), flush=True)
                runner.quit()
                return

    reporter = gevent.spawn(report)
    # time 0 of the scenario: the engine schedules faults from here (same monotonic clock, same origin)
    start_ns = recorder.now()
    print(json.dumps({"event": "shape_started", "at_ns": start_ns}), flush=True)
    runner.start_shape()
    dispatcher = gevent.spawn(arrivals.run, start_ns) if arrivals.any else None
    assert runner.shape_greenlet is not None
    runner.shape_greenlet.join()
    runner.quit()
    reporter.kill()
    if dispatcher is not None:
        dispatcher.kill()
    recorder.close()
    if web is not None:
        web.stop()  # type: ignore[no-untyped-call]
    counts = arrivals.counts()
    log.info(
        "done: %d ops completed in %.1f s %s", recorder.completed, time.monotonic() - started, counts or ""
    )
    print(json.dumps({"event": "done", "completed": recorder.completed, **counts}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
