"""The engine of ``walletchaos run``: stack up -> accounts -> load + faults -> heal -> reconcile -> audit ->
judge -> reports (through ``RunOptions.render``). Each resource registers its undo when it is created
(``Teardown``); all of them run in reverse order at the end, on Ctrl-C and on errors."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from rich.console import Console
from rich.text import Text

from . import conform as conformance
from . import history, judge, leftovers, store
from .auditing import Credential, SnapshotTaker, final_audit
from .client import AccountSpec, WalletAdmin
from .errors import EXIT_INVALID, EXIT_UNKNOWN, InfraError, WalletError
from .judge.columns import TRANSFERS, Columns
from .live import LiveState, LiveView
from .load.config import Account, Accounts, LoadConfig, Workers
from .nemesis import Nemesis
from .ops import Fn, Kind, Op
from .plan import Plan, make_plan
from .scenario import Scenario
from .scrape import MetricsScraper
from .stack import target
from .stack.base import Stack
from .stack.local import LocalStack
from .teardown import Teardown, interruptible

CURRENCY = "CNY"


@dataclass
class RunOptions:
    scenario_path: Path
    seed: int | None = None
    out: Path = Path("runs")
    runtime: str | None = None
    console: Console = field(default_factory=Console)
    render: Callable[[store.StoredRun, judge.Verdict], None] | None = None
    """Writes the report files of a judged run (the CLI passes ``reports.render_all``; the core never
    imports reports/)."""
    web_port: int | None = None
    """Serve Locust's web UI on 127.0.0.1:<port> while the load runs (``run --web``)."""
    workers: Workers | None = None
    """Locust's distributed mode (``run --workers``): local and remote worker counts, master port and bind."""


@dataclass
class RunOutcome:
    run_dir: Path
    exit_code: int
    verdict: judge.Verdict | None
    rerun: str

    @property
    def report(self) -> str:
        """The report's path, or why there is none (never a path to a file that was not written)."""
        path = self.run_dir / "report.html"
        return str(path) if path.is_file() else "no report: the run was not judged"


def make_stack(scenario: Scenario, runtime: str, run_dir: Path, admin_token: str, run_id: str) -> Stack:
    if runtime == "docker":
        from .stack.containers import DockerStack

        return DockerStack(scenario, run_dir, admin_token, run_id)
    if scenario.target is not None:
        return target.TargetStack(scenario, run_dir, admin_token, run_id)
    return LocalStack(scenario, run_dir, admin_token, run_id)


class Run:
    def __init__(self, scenario: Scenario, opts: RunOptions) -> None:
        self.scenario, self.opts = scenario, opts
        self.runtime = opts.runtime or scenario.runtime
        self.plan: Plan = make_plan(scenario, opts.seed)
        self.console = opts.console
        self.run_dir = store.new_run_dir(opts.out, scenario.name)
        self.admin_token = (
            target.admin_token(scenario.target) if scenario.target else secrets.token_urlsafe(24)
        )
        self.run_id = f"{scenario.name}-{self.run_dir.name}-{os.getpid()}".lower().replace(".", "-")
        self.tag = secrets.token_hex(3)
        """In every username and idempotency key of this run: runs sharing one wallet never collide."""
        self.origin_ns = time.monotonic_ns()
        self.records: list[dict[str, Any]] = []
        self._client: list[dict[str, Any]] | Path | None = None  # _client_history
        self.credentials: list[Credential] = []
        self.snapshots: SnapshotTaker | None = None
        self.scraper: MetricsScraper | None = None
        self.state = LiveState(self.plan.duration, scenario.name)
        self.load_proc: subprocess.Popen[str] | None = None
        self.interrupted = False
        self.load_done = False
        self.shape_started = threading.Event()  # the load process began its shape: time 0 of the schedule
        self.shape_started_ns: int | None = None
        self.load_started_at: float | None = None
        self.load_report: dict[str, Any] = {}
        """From the load's last line: arrivals due and dropped per phase (open model); with workers, the
        accounting of their records (``distributed``)."""
        self.teardown_failures: list[str] = []
        self.wallet_error = ""
        self._bad_since: float | None = None  # when the abort_if error rate was first reached
        self.rerun = " ".join(
            [
                "walletchaos",
                "run",
                shlex.quote(str(opts.scenario_path)),
                "--seed",
                str(self.plan.seed),
                "--runtime",
                self.runtime,
            ]
            # the same load topology: a run on workers is re-run on as many (remote ones as local)
            + (["--workers", str(opts.workers.total)] if opts.workers else [])
        )

    def now(self) -> int:
        return time.monotonic_ns() - self.origin_ns

    # -- the whole run ---------------------------------------------------------------------------------------
    def execute(self) -> RunOutcome:
        nemesis: Nemesis | None = None
        audit: dict[str, Any] = {}
        versions: dict[str, Any] = {}
        restore = interruptible()
        undo = Teardown(self._say)
        try:
            self._write_inputs()
            with undo:
                self._mark_run(undo)
                stack = make_stack(self.scenario, self.runtime, self.run_dir, self.admin_token, self.run_id)
                undo.push("stop the stack", self._close_stack(stack), timeout_s=180)
                nemesis = Nemesis(stack, self.plan, self.origin_ns, self.state)
                undo.push("heal every fault", nemesis.heal_all, timeout_s=120)
                undo.push("stop the load", self._stop_load)
                self._say_start()
                self._phase("start")
                with self.console.status("starting PostgreSQL, Toxiproxy and wallet replicas..."):
                    stack.start()
                versions = self._versions(stack)
                self._conform(stack.admin_url)
                self._phase("accounts")
                accounts = self._setup_accounts(stack.admin_url)
                self._phase("load")
                self._drive(stack, nemesis, accounts)
                self._phase("heal")
                self._quiesce(stack, nemesis)
                self._phase("audit")
                with contextlib.suppress(InfraError):
                    audit = self._audit(stack.admin_url)
        except KeyboardInterrupt:
            self.interrupted = True
        except WalletError as exc:  # the wallet under test cannot even start: a verdict, not a crash
            self.wallet_error = str(exc)
        self.teardown_failures += undo.failures
        try:
            return self._finish(nemesis, audit, versions)
        finally:
            restore()

    def _conform(self, url: str) -> None:
        """Before the load, a wallet that is not the reference one gets the quick conformance probe: one
        that does not speak contract v1 stops the run with the clause that broke, not a misleading verdict."""
        wallet = self.scenario.wallet
        if wallet.command is None and wallet.image is None and self.scenario.target is None:
            return
        self._phase("conform")
        clauses = conformance.conform(url, self.admin_token, quick=True)
        store.write_json(self.run_dir / "conform.json", [c.__dict__ for c in clauses])
        broken = [c for c in clauses if not c.ok]
        if broken:
            raise WalletError(
                f"the wallet does not speak contract v1 ({len(broken)} of {len(clauses)} clause(s) broken; "
                f"`walletchaos conform` shows all): {broken[0].name}: {broken[0].detail}"
            )

    def _mark_run(self, undo: Teardown) -> None:
        """Sweep what killed runs left behind, then leave this run's own record (``leftovers``): every
        process started from here on carries WALLETCHAOS_RUN=<run id> in its environment."""
        for removed in leftovers.sweep(containers=True):
            self._say(f"removed a leftover of a killed run: {removed}")
        record = leftovers.RunRecord(self.run_id)
        undo.push("delete the run record", record.remove)
        record.add_path(Path(tempfile.gettempdir()) / f"walletchaos-pg-{self.run_id}-*")
        record.add_path(self.run_dir / "load-config.json")
        undo.push("unmark the harness", lambda: os.environ.pop(leftovers.MARK, None))
        os.environ.update(record.env)

    AFTER_LOAD: ClassVar[dict[str, str]] = {  # the seconds after the load, said as each step begins
        "heal": "healing every fault and stopping the load",
        "audit": "final audit: reading every account back and settling the unknown transfers",
        "judge": "judging the history",
        "report": "writing the reports (verdict, JUnit, summary, HTML page)",
    }

    def _phase(self, name: str) -> None:
        """Write the run's current phase to ``RUN_DIR/phase`` (for people and tests watching a run). The
        test hook ``WALLETCHAOS_PAUSE_AT=<phase>`` holds the run there for up to 60 s, so a test can
        interrupt it at that exact phase; nothing else reads it."""
        (self.run_dir / "phase").write_text(name + "\n")
        if name in self.AFTER_LOAD:
            at = f"[{time.monotonic() - self.state.started:5.1f}s] " if self.state.started else ""
            self.console.print(Text(f"{at}{self.AFTER_LOAD[name]}...", style="dim"), soft_wrap=True)
        if os.environ.get("WALLETCHAOS_PAUSE_AT") == name:
            time.sleep(60)

    def _say(self, message: str) -> None:
        self.console.print(Text(message, style="yellow"))

    def _say_start(self) -> None:
        self.console.print(
            Text.assemble(
                ("walletchaos", "bold"),
                f" {self.scenario.name}  seed={self.plan.seed}  runtime={self.runtime}  "
                f"run dir: {self.run_dir}",
            ),
            soft_wrap=True,
        )

    def _close_stack(self, stack: Stack) -> Any:
        def close() -> None:
            self.teardown_failures += stack.close()

        return close

    def _quiesce(self, stack: Stack, nemesis: Nemesis) -> None:
        """Before the audit: the load stopped, every fault healed, no toxic left (a safety net)."""
        self._stop_load()
        nemesis.heal_all()
        with contextlib.suppress(Exception):
            stack.toxiproxy.reset()

    def _write_inputs(self) -> None:
        (self.run_dir / "logs").mkdir(exist_ok=True)
        with contextlib.suppress(OSError):
            (self.run_dir / "scenario.yaml").write_text(self.opts.scenario_path.read_text())
        store.write_json(self.run_dir / "scenario.json", self.scenario.model_dump(mode="json", by_alias=True))
        store.write_json(self.run_dir / "plan.json", self.plan.to_json())

    # -- set-up ----------------------------------------------------------------------------------------------
    def _setup_accounts(self, admin_url: str) -> Accounts:
        a = self.scenario.accounts
        tag = self.tag  # usernames carry the run's tag: a long-lived wallet holds other runs' accounts
        roles: list[tuple[str, str, str, int]] = [
            ("user", f"u{i:05d}-{tag}", "user", a.user_balance) for i in range(a.users)
        ]
        roles += [("merchant", f"m{i:04d}-{tag}", "merchant", a.merchant_balance) for i in range(a.merchants)]
        roles += [
            ("attack_target", f"t{i:03d}-{tag}", "user", a.user_balance) for i in range(a.attack_targets)
        ]
        specs = [
            AccountSpec(name, secrets.token_urlsafe(9), balance, kind) for _, name, kind, balance in roles
        ]
        admin = WalletAdmin(admin_url, self.admin_token)
        self.records.append(Op("setup", 0, Kind.INVOKE, Fn.ACCOUNTS, self.now(), {}).record())
        try:
            ids = admin.create_accounts(specs)
        finally:
            admin.close()
        rows = [
            {
                "id": ids[s.username],
                "username": s.username,
                "password": s.password,
                "kind": s.kind,
                "balance": s.balance,
                "role": role,
            }
            for s, (role, *_) in zip(specs, roles, strict=True)
        ]
        self.credentials = [Credential(r["id"], str(r["username"]), str(r["password"])) for r in rows]
        public = [{k: v for k, v in r.items() if k != "password"} for r in rows]
        self.records.append(Op("setup", 0, Kind.OK, Fn.ACCOUNTS, self.now(), {"accounts": public}).record())
        by_role: dict[str, list[Account]] = {"user": [], "merchant": [], "attack_target": []}
        for r in rows:
            by_role[str(r["role"])].append(
                Account(id=r["id"], username=r["username"], password=r["password"])
            )
        return Accounts(
            users=by_role["user"],
            merchants=by_role["merchant"],
            attack_targets=by_role["attack_target"],
            hot_merchant_share=a.hot_merchant_share,
        )

    # -- load and faults -------------------------------------------------------------------------------------
    def _drive(self, stack: Stack, nemesis: Nemesis, accounts: Accounts) -> None:
        config = LoadConfig(
            ingress_urls=stack.ingress_urls,
            pinned=stack.balancer is None,
            origin_ns=self.origin_ns,
            seed=self.plan.seed,
            tag=self.tag,
            accounts=accounts,
            currency=CURRENCY,
            history=self.run_dir / "client-history.jsonl",
            load=self.scenario.load,
            web_port=self.opts.web_port,
            workers=self.opts.workers,
        )
        config_path = self.run_dir / "load-config.json"
        config_path.write_text(config.to_json())
        os.chmod(config_path, 0o600)  # holds the throwaway accounts' passwords
        log = open(self.run_dir / "logs" / "load.log", "w")  # noqa: SIM115
        self.load_proc = subprocess.Popen(
            [sys.executable, "-m", "walletchaos.load", str(config_path)],
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            start_new_session=True,
        )
        reader = threading.Thread(target=self._read_stats, daemon=True)
        reader.start()
        # Faults are scheduled from the moment the load's shape starts, on the load's own clock (it starts
        # 0.3-0.5 s after the process, once Locust is imported), so `at: 6s` means 6 s into the load.
        waited = time.monotonic()
        while not self.shape_started.wait(0.1) and self.load_proc.poll() is None:
            if time.monotonic() - waited > 60:
                break
        load_start = self.shape_started_ns if self.shape_started_ns is not None else self.now()
        reported = {"reported": self.shape_started_ns is not None}
        self.records += [
            Op("harness", 2, Kind.INVOKE, Fn.LOAD_START, load_start, {}).record(),
            Op("harness", 2, Kind.OK, Fn.LOAD_START, load_start, reported).record(),
        ]
        self.state.started = time.monotonic() - (self.now() - load_start) / 1e9
        self.load_started_at = time.time() - (self.now() - load_start) / 1e9  # wall clock, for dashboards
        nemesis.start(load_start)
        self.snapshots = SnapshotTaker(
            lambda: stack.admin_url, self.admin_token, {str(c.id) for c in self.credentials}, self.now
        )
        self.snapshots.start()
        self.scraper = MetricsScraper(
            lambda: [r.url for r in stack.replicas()] or [stack.admin_url],  # a target: its one address
            self.run_dir / "metrics.jsonl",
            lambda: (self.now() - load_start) / 1e9,
        )
        self.scraper.start()
        deadline = time.monotonic() + self.plan.duration + 60
        with LiveView(self.state, self.console) as view:
            while self.load_proc.poll() is None:
                view.update()
                if self._should_abort() or time.monotonic() > deadline:
                    self.load_proc.terminate()
                    break
                time.sleep(0.25)
            view.update()
        self.snapshots.stop()
        self.scraper.stop()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.load_proc.wait(timeout=30)
        reader.join(timeout=5)
        log.close()
        self._record_load_exit()
        self._record_balancer(stack)

    def _record_balancer(self, stack: Stack) -> None:
        """The balancer's per-replica counters at the end of the load (responses by class, retries,
        redispatches, health-check downs): which replicas served, and what the balancer absorbed."""
        if stack.balancer is None:
            return
        t = self.now()
        try:
            value: dict[str, Any] = {"replicas": stack.balancer.stats()}
            kind = Kind.OK
        except InfraError as exc:
            value, kind = {"error": str(exc)}, Kind.INFO
        self.records += [
            Op("harness", 3, Kind.INVOKE, Fn.BALANCER, t, {}).record(),
            Op("harness", 3, kind, Fn.BALANCER, t, value).record(),
        ]

    def _record_load_exit(self) -> None:
        """How the load process ended: the judge treats requests it may have lost differently when it did
        not end cleanly (``no_phantoms``)."""
        assert self.load_proc is not None
        code = self.load_proc.poll()
        shipped = self.load_report.get("distributed")  # with workers: did every record of theirs arrive?
        whole = not shipped or (shipped["reported"] == shipped["expected"] and not shipped["records_missing"])
        value = {"returncode": code, "clean": code == 0 and self.load_done and whole, **self.load_report}
        t = self.now()
        self.records += [
            Op("harness", 1, Kind.INVOKE, Fn.LOAD_EXIT, t, {}).record(),
            Op("harness", 1, Kind.OK, Fn.LOAD_EXIT, t, value).record(),
        ]

    def _read_stats(self) -> None:
        assert self.load_proc is not None and self.load_proc.stdout is not None
        for line in self.load_proc.stdout:
            with contextlib.suppress(ValueError):
                data = json.loads(line)
                if data.get("event") == "shape_started":
                    self.shape_started_ns = int(data["at_ns"])
                    self.shape_started.set()
                elif "event" in data:
                    self.state.note(f"load: {data['event']}")
                    if data["event"] == "done":
                        self.load_done = True
                        keys = ("arrivals", "dropped", "distributed")
                        self.load_report = {k: data[k] for k in keys if k in data}
                else:
                    self.state.stats = data

    def _should_abort(self) -> bool:
        rule = self.scenario.abort_if
        if rule is None:
            return False
        if float(self.state.stats.get("error_rate", 0.0)) < rule.error_rate:
            self._bad_since = None
            return False
        self._bad_since = self._bad_since or time.monotonic()
        if time.monotonic() - self._bad_since < rule.for_:
            return False
        self.state.note("abort_if reached: stopping the load")
        t = self.now()
        value = {
            "error_rate": rule.error_rate,
            "for": rule.for_,
            "observed": self.state.stats.get("error_rate"),
        }
        self.records += [
            Op("harness", 0, Kind.INVOKE, Fn.ABORT, t, value).record(),
            Op("harness", 0, Kind.OK, Fn.ABORT, t).record(),
        ]
        return True

    def _stop_load(self) -> None:
        """Stop the snapshots and scrapes taken during the load, then the load process (TERM, then KILL), then
        anything left in its process group: its Locust workers, should it have died without stopping them."""
        if self.snapshots is not None:
            self.snapshots.stop()
        if self.scraper is not None:
            self.scraper.stop()
        proc = self.load_proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)  # the group outlives its leader only when workers linger

    # -- after the load --------------------------------------------------------------------------------------
    def _audit(self, admin_url: str) -> dict[str, Any]:
        """The quiet, cross-checked final audit (``auditing.final_audit``)."""
        admin = WalletAdmin(admin_url, self.admin_token)
        try:
            from .stack.proc import http_ok, wait_until

            wait_until(lambda: http_ok(admin_url + "/readyz"), 30, "the wallet to be ready for the audit")
            return final_audit(admin, self._unknown_keys(), self.credentials, self.run_dir / store.LEDGER)
        finally:
            admin.close()

    def _client_history(self) -> list[dict[str, Any]] | Path:
        """The load's records in time order, made once after the load ended (the audit's unknown keys and the
        merged history read them): a file DuckDB sorted (``history.merge_files``: a long run's records are
        never held), or the records in memory when DuckDB cannot read the load's file as Python does (a last
        line cut short by a killed load process, say)."""
        if self._client is None:
            path = self.run_dir / "client-history.jsonl"
            ordered = self.run_dir / ".client-ordered.jsonl"
            if not path.exists():
                self._client = []
            elif history.merge_files(ordered, path, number=False):
                self._client = ordered
            else:
                self._client = history.merge(history.read(path))
        return self._client

    def _unknown_keys(self) -> list[str]:
        """Keys the client never saw acknowledged and saw at least one unknown outcome for (``history.pair``'s
        pairing, in the judge's columns; the load's file, sorted by time, is not numbered in that order)."""
        cols = Columns(self._client_history(), numbered=False, values=False)
        try:
            return sorted(
                cols.keys(
                    f"SELECT key FROM calls WHERE {TRANSFERS} GROUP BY key "
                    "HAVING bool_or(type = 'info') AND NOT bool_or(type = 'ok')"
                )
            )
        finally:
            cols.close()

    def _finish(self, nemesis: Nemesis | None, audit: dict[str, Any], versions: dict[str, Any]) -> RunOutcome:
        client = self._client_history()
        if self.snapshots is not None:
            self.snapshots.stop()
        taken = self.snapshots.records if self.snapshots else []
        zero = next((r["time"] for r in self.records if r["f"] == Fn.LOAD_START), 0)
        written = self.run_dir / "history.jsonl"
        harness = [self.records, nemesis.records if nemesis else [], taken]
        if not history.merge_files(written, *harness, client, zero=zero, vouched=isinstance(client, Path)):
            records = history.read(client) if isinstance(client, Path) else client
            history.write(written, history.merge(*harness, records, zero=zero))
        self._client = None
        del client  # the judge and the reports read the file: a long run's records go now
        (self.run_dir / "client-history.jsonl").unlink(missing_ok=True)
        (self.run_dir / ".client-ordered.jsonl").unlink(missing_ok=True)
        (self.run_dir / "load-config.json").unlink(missing_ok=True)  # the throwaway accounts' passwords
        store.write_audit(self.run_dir, audit)
        verdict = None
        try:
            if audit and not self.interrupted:
                self._phase("judge")
                # the judge and the reports share one read of the merged history, as written
                stored = store.StoredRun(self.run_dir, self.scenario, history.File(written), audit, {})
                with contextlib.closing(stored):
                    verdict = judge.check(self.scenario, stored.columns(), audit)
                    stored.meta = self._meta(verdict.exit_code, versions)
                    self._phase("report")
                    if self.opts.render is not None:
                        self.opts.render(stored, verdict)
        except KeyboardInterrupt:
            self.interrupted, verdict = True, None
            for name in ("verdict.json", "junit.xml", "summary.md", "report.html"):
                (self.run_dir / name).unlink(missing_ok=True)  # no half-written report left behind
        exit_code = EXIT_UNKNOWN if verdict is None or self.teardown_failures else verdict.exit_code
        if self.wallet_error:
            exit_code = EXIT_INVALID
            self.console.print(Text(f"INVALID: {self.wallet_error}", style="bold red"), soft_wrap=True)
        store.write_json(self.run_dir / "run.json", self._meta(exit_code, versions))
        (self.run_dir / "phase").write_text("done\n")
        if self.interrupted:
            self._say("interrupted: every fault healed and everything stopped; the run was not judged")
        for failure in self.teardown_failures:
            self._say(f"teardown: {failure}")
        return RunOutcome(self.run_dir, exit_code, None if self.interrupted else verdict, self.rerun)

    def _versions(self, stack: Stack) -> dict[str, Any]:
        """What ran: walletchaos, the wallet as it describes itself (GET /version: version and defects),
        and the runtime's own components (PostgreSQL, Toxiproxy, HAProxy, engine)."""
        from importlib.metadata import version

        out: dict[str, Any] = {"walletchaos": version("walletchaos")}
        admin = WalletAdmin(stack.admin_url, self.admin_token)
        try:
            said = admin.version()
            said = said if isinstance(said, dict) else {"version": str(said)[:100]}
            out["wallet"] = str(said.get("version", "?"))[:100]
            listed = said.get("defects")
            defects: list[Any] = listed if isinstance(listed, list) else []
            out["wallet defects"] = ", ".join(str(d)[:60] for d in defects[:20]) or "none"
        except (InfraError, WalletError, ValueError) as exc:
            out["wallet"] = f"GET /version failed: {exc}"[:200]
        finally:
            admin.close()
        return {**out, **stack.versions()}

    def _meta(self, exit_code: int, versions: dict[str, Any]) -> dict[str, Any]:
        return {
            "scenario": self.scenario.name,
            "scenario_path": str(self.opts.scenario_path),
            "seed": self.plan.seed,
            "runtime": self.runtime,
            "load_started_at": self.load_started_at,
            "versions": versions,
            "rerun": self.rerun,
            "workers": self.opts.workers.model_dump() if self.opts.workers else None,
            "interrupted": self.interrupted,
            "teardown_failures": self.teardown_failures,
            "wallet_error": self.wallet_error or None,
            "exit_code": exit_code,
            "python": sys.version.split()[0],
        }


def run(scenario: Scenario, opts: RunOptions) -> RunOutcome:
    return Run(scenario, opts).execute()
