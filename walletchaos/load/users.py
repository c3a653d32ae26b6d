"""The simulated wallet users: one Locust user class whose single task picks an op from the mix.

Every random choice comes from the user's own generator, seeded by (run seed, user number), so the same
seed yields the same op sequence per user. Pacing is ``rate`` ops/s of the current phase per user, each
user at its own phase of the period and each interval jittered by +-10% (a second generator from the same
seed), so intended starts spread over the period; each op's intended start is kept so latency can be
corrected for coordinated omission.
"""

from __future__ import annotations

import itertools
import random
from collections import Counter
from typing import Any, ClassVar

import gevent
import gevent.queue
from locust import FastHttpUser, LoadTestShape, task

from ..scenario import Phase
from .arrivals import ShapeClock, phase_at, schedule, share
from .config import Account, LoadConfig
from .outcome import classify
from .pacing import Pacer
from .recorder import Recorder
from .workload import OPS


class PhaseShape(LoadTestShape):
    """The promotion shape as data: consecutive phases of (users, spawn_rate) for a duration. Locust runs
    it in the load process only (the master, with workers); users read the phase from ``ShapeClock``."""

    phases: ClassVar[list[Phase]] = []
    current_phase = ""

    def tick(self) -> tuple[int, float] | None:
        elapsed = self.get_run_time()  # type: ignore[no-untyped-call]
        end = 0.0
        for p in self.phases:
            end += p.for_
            if elapsed < end:
                PhaseShape.current_phase = p.phase
                return p.users, p.spawn_rate
        return None


class Arrivals:
    """The open model's dispatcher: at each arrival's due time, hands it to a user of the pool that is
    waiting for work; an arrival that finds every user busy is dropped and counted, per phase."""

    def __init__(
        self, clock: ShapeClock, seed: str, recorder: Recorder, part: tuple[int, int] = (0, 1)
    ) -> None:
        self.phases, self.clock, self.seed, self.recorder = clock.phases, clock, seed, recorder
        self.part = part
        """(this worker's index, workers): a worker runs every arrival whose number % workers == index."""
        self.channel: gevent.queue.Channel[int] = gevent.queue.Channel()
        self.due: Counter[str] = Counter()
        self.dropped: Counter[str] = Counter()

    @property
    def any(self) -> bool:
        return any(p.arrivals is not None for p in self.phases)

    def run(self, start_ns: int) -> None:
        for due, phase in share(schedule(self.phases, start_ns, self.seed), *self.part):
            early = due - self.recorder.now()
            if early > 0:
                gevent.sleep(early / 1e9)
            self.due[phase] += 1
            try:
                self.channel.put(due, block=False)  # only to a user already waiting: none, dropped
            except gevent.queue.Full:
                self.dropped[phase] += 1

    def open_now(self) -> bool:
        """Whether the phase running now is an arrivals phase."""
        now = self.recorder.now()
        if self.clock.start_ns is None or now < self.clock.start_ns:
            return False
        phase = phase_at(self.phases, self.clock.start_ns, now)
        return phase is not None and phase.arrivals is not None

    def take(self) -> int | None:
        """The next arrival's due time (its intended start), or None when none came within 250 ms."""
        try:
            return int(self.channel.get(timeout=0.25))
        except gevent.queue.Empty:
            return None

    def counts(self) -> dict[str, dict[str, int]]:
        return {"arrivals": dict(self.due), "dropped": dict(self.dropped)}


def configure(
    config: LoadConfig, recorder: Recorder
) -> tuple[type[FastHttpUser], PhaseShape, ShapeClock, Arrivals]:
    """The user class, the shape and its clock, and the open model's dispatcher of one load process. A
    worker (``config.seat``: index and count) numbers its users index, index + count, ... so user
    numbers (the history's ``process``) are unique across workers, and runs its share of the arrivals."""
    load = config.load
    PhaseShape.phases = load.shape
    ops, weights = zip(*[(k, v) for k, v in load.mix.items() if v > 0], strict=True)
    index, workers = (config.seat.index, config.seat.count) if config.seat else (0, 1)
    numbers = itertools.count(index, workers)
    accounts = config.accounts
    clock = ShapeClock(load.shape)
    arrivals = Arrivals(clock, f"{config.seed}:arrivals", recorder, (index, workers))

    class WalletUser(FastHttpUser):
        network_timeout = connection_timeout = float(load.client_timeout)
        max_retries = 0
        host = config.ingress_urls[0]

        def __init__(self, environment: Any) -> None:
            self.number = next(numbers)
            # pinned (no balancer): the ingress link, so the replica, this user always uses; else None
            self.via = self.number % len(config.ingress_urls) if config.pinned else None
            self.host = config.ingress_urls[self.via or 0]
            super().__init__(environment)
            self.rng = random.Random(f"{config.seed}:{self.number}")
            self.me = accounts.users[self.number % len(accounts.users)]
            self.token: str | None = None
            self.keys = itertools.count()
            self.payments: list[dict[str, Any]] = []
            self.refunds: list[dict[str, Any]] = []
            """Recent refunds this user received (id, merchant, amount), for refund-of-refund probes."""
            self.acked: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
            """Recent acknowledged transfers (f, value, body), for idempotency probes."""
            self.merchant_tokens: dict[int | str, str] = {}
            self.expiry: dict[str, tuple[int, int]] = {}
            """token -> (expires at, lifetime) in recorder ns, from the login's ``expires_in``."""
            self.expired: list[str] = []
            """This user's own tokens replaced on refresh, for expired-token probes."""
            now = recorder.now()
            self.pacer = Pacer(f"{config.seed}:{self.number}:pace", now, clock.rate(now))
            self.accounts, self.load, self.currency = accounts, load, config.currency
            self.was_open = False
            """Whether this user's last op was an arrival of an open phase (its pacing is then stale)."""

        def wait_time(self) -> float:
            if arrivals.open_now():
                return 0.0  # the pool waits on the dispatcher, not on its own pacing
            return max(0.0, (self.pacer.next - recorder.now()) / 1e9)

        def on_start(self) -> None:
            self.token = self._login(self.me)

        @task
        def one_op(self) -> None:
            if clock.ended(recorder.now()):  # past the shape's end: Locust is about to stop the users
                gevent.sleep(0.25)
                return
            if arrivals.open_now():
                due = arrivals.take()
                if due is None:
                    return
                intended = due
                self.was_open = True
            else:
                if self.was_open:  # a closed phase after an open one: pace from this user's phase again
                    now = recorder.now()
                    self.pacer.restart(now, clock.rate(now))
                    self.was_open = False
                early = self.pacer.next - recorder.now()
                if early > 0:  # the first op after spawning waits for this user's phase too
                    gevent.sleep(early / 1e9)
                intended = self.pacer.take(recorder.now(), clock.rate(recorder.now()))
            if self.token is None:  # a user whose login failed logs in again before its next op
                self.token = self._login(self.me, intended=intended)
                return
            if self.stale(self.token):  # a session about to expire is renewed, as apps do
                self.expired = [self.token, *self.expired[:2]]
                self.token = self._login(self.me, intended=intended)
                return
            OPS[self.rng.choices(ops, weights)[0]](self, intended)

        # -- plumbing ------------------------------------------------------------------------------------
        def _call(
            self,
            f: str,
            method: str,
            path: str,
            value: dict[str, Any],
            intended: int | None = None,
            body: Any = None,
            headers: dict[str, str] | None = None,
        ) -> tuple[str, int, dict[str, Any]]:
            op = recorder.invoke(
                self.number, f, value if self.via is None else {**value, "via": self.via}, intended
            )
            intended_ns = recorder.now() if intended is None else intended
            with self.client.request(
                method, path, json=body, headers=headers or {}, name=f, catch_response=True
            ) as resp:
                status = int(resp.status_code or 0)
                try:
                    data = resp.json() if resp.text else {}
                except ValueError:
                    data = {}
                data = data if isinstance(data, dict) else {}
                kind = classify(f, status, data)
                transport_error = getattr(resp, "error", None)
                error = data.get("error") or (type(transport_error).__name__ if transport_error else None)
                if kind == "ok" and f == "balance" and type(data.get("balance")) is not int:
                    # a 200 whose body was cut off (its replica killed mid-answer): the balance is unknown
                    kind, error = "info", error or "unreadable_body"
                resp.success() if kind == "ok" else resp.failure(error or str(status))
            result = self._result_value(f, data) if kind == "ok" else None
            if status == 423:
                result = {"retry_after": data.get("retry_after")}
            recorder.complete(
                self.number, op, f, kind, status, error, result, min(intended_ns, recorder.now())
            )
            return kind, status, data

        @staticmethod
        def _result_value(f: str, data: dict[str, Any]) -> dict[str, Any] | None:
            if f == "balance":
                return {"balance": data.get("balance")}
            if f in ("login", "attack"):
                return {"account_id": data.get("account_id")}
            if "id" not in data:
                return None
            answer = {k: data[k] for k in ("from", "to", "amount", "currency", "status") if k in data}
            return {"id": data["id"], "response": answer}

        def _auth(self, token: str | None) -> dict[str, str]:
            return {"Authorization": f"Bearer {token}"} if token else {}

        def _login(
            self,
            account: Account,
            f: str = "login",
            password: str | None = None,
            intended: int | None = None,
        ) -> str | None:
            body = {"username": account.username, "password": password or account.password}
            value = {"username": account.username, "account": account.id, "legit": password is None}
            kind, _, data = self._call(f, "POST", "/v1/sessions", value, intended, body=body)
            token, ttl = data.get("token"), data.get("expires_in")
            if kind != "ok" or not isinstance(token, str):
                return None
            if isinstance(ttl, int | float) and not isinstance(ttl, bool) and 0 < ttl < 10**7:
                self.expiry[token] = (recorder.now() + int(ttl * 1e9), int(ttl * 1e9))
            return token

        def stale(self, token: str) -> bool:
            """Within the last fifth of its lifetime (at least 1 s before it ends): renew it."""
            expires, lifetime = self.expiry.get(token, (2**62, 0))
            return recorder.now() >= expires - max(lifetime // 5, 10**9)

        def long_expired(self) -> str | None:
            """One of this user's own tokens whose lifetime ended at least 2 s ago (the wallet's clock may
            have started it a little later than this side saw the answer), or None."""
            return next((t for t in self.expired if recorder.now() > self.expiry[t][0] + 2 * 10**9), None)

        def _transfer(
            self,
            f: str,
            token: str | None,
            src: int | str,
            dst: int | str,
            amount: int,
            intended: int,
            acting_as: int | str,
            refund_of: int | str | None = None,
        ) -> tuple[str, dict[str, Any]]:
            key = self.new_key()
            body: dict[str, Any] = {"from": src, "to": dst, "amount": amount, "currency": config.currency}
            if refund_of is not None:
                body["refund_of"] = refund_of
            value = {"key": key, "from": src, "to": dst, "amount": amount, "as": acting_as}
            if refund_of is not None:
                value["refund_of"] = refund_of
            headers = {**self._auth(token), "Idempotency-Key": key}
            kind, _, data = self._call(f, "POST", "/v1/transfers", value, intended, body, headers)
            for attempt in range(1, load.retries + 1):
                if kind != "info":
                    break
                gevent.sleep(0.1 * attempt)
                kind, _, data = self._call(
                    f, "POST", "/v1/transfers", {**value, "retry": attempt}, None, body, headers
                )
            if kind == "ok" and self.rng.random() < load.duplicate_submit:
                self._call(f, "POST", "/v1/transfers", {**value, "resend": True}, None, body, headers)
            if kind == "ok" and f in ("pay", "p2p"):
                self.acked = [*self.acked[-19:], (f, value, body)]
            return kind, data

        def new_key(self) -> str:
            return f"{config.tag}-{config.seed}-{self.number}-{next(self.keys)}"

        def merchant_token(self, merchant: Account) -> str | None:
            """A session of ``merchant`` (for refunds), kept until it is about to expire."""
            cached = self.merchant_tokens.get(merchant.id)
            if cached is None or self.stale(cached):
                token = self._login(merchant)
                if token is None:
                    return None
                self.merchant_tokens[merchant.id] = token
            return self.merchant_tokens[merchant.id]

        def _amount(self) -> int:
            return self.rng.randint(*load.amount)

    return WalletUser, PhaseShape(), clock, arrivals  # type: ignore[no-untyped-call]
