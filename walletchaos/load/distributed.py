"""Locust's distributed mode, with one lossless history: the load process is Locust's master, each worker
a Locust worker (``run --workers N`` starts N on this machine; ``walletchaos worker --master HOST:PORT``
joins from another one).

Locust ships its own stats between them; the history travels beside them as custom messages on the same
connection (``wc_*``): a worker asks for the run's config (``wc_hello`` -> ``wc_config``; the workers the
load process started carry a token in their hello that seats them in the seats kept for them), learns the
shape's start (``wc_start``), ships its records every 250 ms (``wc_records``: the text, the line count and
the live counters) and, once its users stopped, says how many records it shipped in how many batches
(``wc_done``), and leaves when told (``wc_leave``: Locust's own ``quit`` reaches only workers it counts as
ready, which a worker is not for ``stop_timeout`` after a stop). The master writes every batch into the
one history file and compares what it received with what each worker said it sent: the accounting goes
into the run (``load_exit``), and the judge calls a history with a missing record or a silent worker
unknown, never valid.

Clocks: the history's times are ``monotonic_ns - origin_ns`` of the harness. A worker on the same boot of
the same machine (same ``boot_id``) shares that monotonic clock exactly; one elsewhere sets its origin from
the master's clock reading in its config, off by that message's one-way delay.
"""

from __future__ import annotations

import logging
import os
import secrets
import subprocess
import sys
import time
from typing import Any

import gevent
import gevent.event
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from .. import gcpause
from .config import LoadConfig, Seat
from .recorder import Outbox, Recorder
from .shipping import Accounting, Seats, boot_id, claims_local, unreachable, worker_origin
from .users import configure

HELLO, CONFIG, REFUSED, START, RECORDS, DONE, LEAVE = (
    "wc_hello",
    "wc_config",
    "wc_refused",
    "wc_start",
    "wc_records",
    "wc_done",
    "wc_leave",
)
SEAT_TOKEN = "WALLETCHAOS_SEAT_TOKEN"
SHIP_EVERY_S = 0.25
log = logging.getLogger("walletchaos.load")


class Master:
    """The load process's side: answers workers, starts them together, writes their records, counts."""

    def __init__(
        self, runner: MasterRunner, recorder: Recorder, config: LoadConfig, expected: int, local: int
    ) -> None:
        self.runner, self.recorder, self.config = runner, recorder, config
        self.expected = expected
        self.seats = Seats(expected, local)
        self.token = secrets.token_hex(16)
        """Given to the local workers (SEAT_TOKEN in their environment): their hello claims a local seat."""
        self.books = Accounting(self.expected)
        self.dropped: dict[int, int] = {}
        """Arrivals each worker dropped so far (for the live view)."""
        self.procs: list[subprocess.Popen[bytes]] = []
        runner.register_message(HELLO, self._hello)
        runner.register_message(REFUSED, self._refused)
        runner.register_message(RECORDS, self._records)
        runner.register_message(DONE, self._done)

    def _hello(self, environment: Environment, msg: Any) -> None:
        local = claims_local(msg.data, self.token)
        index = self.seats.take(msg.node_id, local)
        if index is None:  # told to leave at once: Locust would otherwise deal it users it cannot run
            where = "local" if local else "remote"
            expects = self.seats.local if local else self.expected - self.seats.local
            log.warning("%s worker %s joined, but the run expects %d: sent away", where, msg.node_id, expects)
            self.runner.send_message(LEAVE, None, client_id=msg.node_id)
            return
        seat = Seat(index=index, count=self.expected, master_now_ns=self.recorder.now(), boot_id=boot_id())
        data = self.config.for_worker(seat).model_dump(mode="json", by_alias=True, exclude_unset=True)
        self.runner.send_message(CONFIG, data, client_id=msg.node_id)

    def _refused(self, environment: Environment, msg: Any) -> None:
        """A worker that will not take part gives its seat back (another may still join) and says why."""
        why = str((msg.data or {}).get("why", "no reason given"))
        self.seats.give_back(msg.node_id, why)
        log.warning("worker %s refused the run: %s", msg.node_id, why)

    def _records(self, environment: Environment, msg: Any) -> None:
        d = msg.data
        self.recorder.absorb(d["text"], d["window"])
        self.books.received(int(d["index"]), int(d["lines"]))
        self.dropped[int(d["index"])] = int(d.get("dropped", 0))

    def _done(self, environment: Environment, msg: Any) -> None:
        self.books.said(msg.data)

    def start_local(self, count: int) -> None:
        """``count`` worker processes on this machine (same process group: stopped with the load)."""
        address = f"127.0.0.1:{self.runner.server.port}"
        for _ in range(count):
            self.procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "walletchaos.load", "--worker", address],
                    env={**os.environ, SEAT_TOKEN: self.token},
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,  # stderr: the load's log
                )
            )

    def wait_ready(self, timeout_s: float) -> bool:
        """Every expected worker asked for its config and is ready for users (False on timeout, or when a
        local worker died first)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.seats.full and self.runner.worker_count >= self.expected:
                return True
            if any(p.poll() is not None for p in self.procs):
                return False
            gevent.sleep(0.1)
        return False

    def start(self, start_ns: int) -> None:
        self.runner.send_message(START, {"start_ns": start_ns})

    def wait_done(self, timeout_s: float) -> None:
        """Until every worker said what it shipped (or the timeout: the accounting then says who did not)."""
        deadline = time.monotonic() + timeout_s
        while not self.books.all_said and time.monotonic() < deadline:
            gevent.sleep(0.1)

    def stop_local(self) -> None:
        """Every worker that joined leaves; the local ones are waited for (killed after 10 s)."""
        for node in self.seats.taken:
            self.runner.send_message(LEAVE, None, client_id=node)
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


class Worker:
    """One Locust worker: configured by the master's ``wc_config``, ships its records until its users
    stopped, then says how many it shipped."""

    def __init__(self, env: Environment, runner: WorkerRunner) -> None:
        self.env, self.runner = env, runner
        self.outbox = Outbox()
        self.recorder: Recorder | None = None
        self.index = -1
        self.sent = self.batches = 0
        self.finished = False
        self.configured = gevent.event.Event()
        self.refused = ""
        """Why this worker will not take part (set instead of a configuration)."""
        self.sent_away = False
        """The master had every worker it expects when this one joined (told to leave before a config)."""
        self.arrivals: Any = None
        self.clock: Any = None
        self.dispatcher: gevent.Greenlet[Any, Any] | None = None
        runner.register_message(CONFIG, self._config)
        runner.register_message(START, self._start)
        runner.register_message(LEAVE, self._leave)
        env.events.test_stop.add_listener(self._stopped)  # type: ignore[no-untyped-call]

    def _leave(self, environment: Environment, msg: Any) -> None:
        """The run is over for this worker, or it was never seated (``work`` then leaves saying so)."""
        if not self.configured.is_set():
            self.refused, self.sent_away = "the run already has every worker it expects", True
            self.configured.set()
            return
        gevent.spawn(leave, self.env, self.runner)

    def _config(self, environment: Environment, msg: Any) -> None:
        # configured here, in the message handler: the master's wc_start may be the very next message
        config = LoadConfig.model_validate(msg.data)
        assert config.seat is not None, "the master seats every worker it configures"
        far = unreachable(config.ingress_urls, config.seat.boot_id)
        if far:  # never aim a load at whatever listens on this machine's loopback
            self.refused = f"the run's wallet is at {far[0]}, a loopback address of the master's machine"
            self.configured.set()
            return
        self.index = config.seat.index
        origin = worker_origin(config.origin_ns, config.seat.master_now_ns, config.seat.boot_id)
        self.recorder = Recorder(self.outbox, origin)
        user_class, _, self.clock, self.arrivals = configure(config, self.recorder)
        self.env.user_classes[:] = [user_class]
        gevent.spawn(self._ship_loop)
        gcpause.settle()
        log.info("worker %d of %d configured", self.index, config.seat.count)
        self.configured.set()

    def _start(self, environment: Environment, msg: Any) -> None:
        self.clock.start_ns = int(msg.data["start_ns"])
        if self.arrivals.any:
            self.dispatcher = gevent.spawn(self.arrivals.run, self.clock.start_ns)

    def _ship(self) -> None:
        assert self.recorder is not None
        text, lines = self.outbox.drain()
        window = self.recorder.take_raw()
        if not lines and not any(window[k] for k in ("ok", "fail", "info")):
            return
        dropped = sum(self.arrivals.dropped.values())
        data = {"index": self.index, "text": text, "lines": lines, "window": window, "dropped": dropped}
        try:
            self.runner.send_message(RECORDS, data)
        except Exception as exc:  # kept, and sent first next time: never counted as shipped
            log.warning("could not ship %d records (%s); will retry", lines, exc)
            self.outbox.undrain(text, lines)
            self.recorder.merge(window)
            return
        self.sent += lines
        self.batches += 1

    def _ship_loop(self) -> None:
        while not self.finished:
            gevent.sleep(SHIP_EVERY_S)
            if not self.finished:
                self._ship()

    def _stopped(self, environment: Environment, **kwargs: Any) -> None:
        """Locust's test_stop: the users have stopped; ship the rest, then say what was shipped."""
        if self.finished or self.recorder is None:
            return
        self.finished = True
        if self.dispatcher is not None:
            self.dispatcher.kill()
        for _ in range(5):
            self._ship()
            if not self.outbox.lines:
                break
            gevent.sleep(0.2)
        said = {"index": self.index, "records": self.sent, "batches": self.batches, **self.arrivals.counts()}
        self.runner.send_message(DONE, said)
        log.info("worker %d: %d records shipped in %d batches", self.index, self.sent, self.batches)
        # Locust's worker now sleeps stop_timeout before it reads its next message (the master's wc_leave);
        # its users have stopped and everything is shipped and counted: nothing is left to wait for
        self.env.stop_timeout = 0.0


def leave(env: Environment, runner: WorkerRunner) -> None:
    """Quit as Locust's own shutdown does: ``quitting`` makes the worker tell the master it quit, so the
    master stops counting it at once (Locust's ``runner.quit`` alone leaves that to its heartbeat)."""
    env.events.quitting.fire(environment=env, reverse=True)  # type: ignore[no-untyped-call]
    runner.quit()


def work(master: str) -> int:
    """``python -m walletchaos.load --worker HOST:PORT``: one Locust worker of a walletchaos run."""
    host, _, port = master.rpartition(":")
    if not host or not port.isdigit():
        print(f"--master {master!r}: expected HOST:PORT", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    env = Environment(user_classes=[])
    runner = env.create_worker_runner(host.strip("[]"), int(port))
    worker = Worker(env, runner)
    runner.send_message(HELLO, {"token": os.environ.get(SEAT_TOKEN, "")})
    if not worker.configured.wait(timeout=60):
        log.error("no config from the master at %s within 60 s: leaving", master)
        runner.quit()
        return 3
    if worker.refused:
        log.error("%s: leaving", worker.refused)
        if worker.sent_away:  # the run goes on with the others: the master stops counting this one at once
            leave(env, runner)
        else:  # the master gives the seat back, says why it is short of workers, and waits for another
            runner.send_message(REFUSED, {"why": worker.refused})
            runner.quit()
        return 3
    assert runner.greenlet is not None
    runner.greenlet.join()
    return 0
