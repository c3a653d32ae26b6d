"""The scenario model: what a YAML file may say, typed and validated (pydantic), before anything starts.

See scenarios/README.md for the format with examples. Every span is seconds after validation.
"""

from __future__ import annotations

import difflib
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)

from .durations import parse_span
from .targets import SINGLE, split_target

Span = Annotated[float, BeforeValidator(parse_span)]
INT64 = 2**63 - 1


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WalletConfig(Model):
    command: str | None = Field(None, min_length=1, max_length=4096)
    """Your wallet, started once per replica (local runtime): placeholders {host} {port} {database_url}
    {admin_token} {replica} {python}, the same values in the environment. None: the reference wallet."""
    image: str | None = Field(None, max_length=256, pattern=r"^[A-Za-z0-9][A-Za-z0-9._/:@-]*$")
    """Your wallet's image (docker runtime), started once per replica with host networking and the values
    of the command placeholders in its environment (HOST, PORT, DATABASE_URL, ADMIN_TOKEN, REPLICA)."""
    env: dict[Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=100)], str] = {}
    """Extra environment for your command or image."""
    start_timeout: Span = Field(30.0, gt=0, le=600)
    """How long each replica may take until GET /readyz answers 200 (else exit 255 with its log tail)."""
    replicas: int = Field(1, ge=1, le=8)
    balancer: Literal["haproxy", "none"] = "haproxy"
    """``haproxy``: clients reach the replicas through HAProxy (health checks on /readyz, retries of requests
    that never reached a replica; see walletchaos/stack/balancer.py), ``ingress`` is the clients' link to it
    and ``ingress[i]`` its link to replica i. ``none``: each client is pinned to one replica's link
    ``ingress[i]`` (user n to replica n mod replicas), for experiments that need it."""
    defects: list[str] = []
    version: str = "1.0.0"
    settings: dict[str, float | int | str] = {}
    """Wallet settings passed through ``--set`` (see reference_wallet/config.py), e.g. lockout_window_s."""


class Database(Model):
    standby: bool = False
    """A streaming standby of the PostgreSQL primary (pg_basebackup), for ``process.failover``."""
    replication: Literal["sync", "async"] = "async"
    """``sync``: the primary acknowledges a commit once the standby has it (synchronous_standby_names);
    ``async``: at once, so a failover may lose acknowledged commits."""


class Accounts(Model):
    users: int = Field(100, ge=2, le=100_000)
    merchants: int = Field(5, ge=1, le=1_000)
    user_balance: int = Field(100_000, ge=0, le=INT64)
    merchant_balance: int = Field(0, ge=0, le=INT64)
    attack_targets: int = Field(2, ge=0, le=100)
    hot_merchant_share: float = Field(0.5, ge=0, le=1)
    """Share of payments that go to merchant 0 (a hot merchant at a promotion)."""


OpName = Literal[
    "pay",
    "p2p",
    "refund",
    "balance",
    "login",
    "attack",
    "unauthorized",
    "auth_probe",
    "idempotency_probe",
    "refund_probe",
]


Rate = Annotated[float, Field(gt=0, le=100_000)]


class Phase(Model):
    phase: str = Field(min_length=1)
    for_: Span = Field(alias="for", gt=0)
    users: int = Field(ge=0, le=5_000)
    """Closed model: the simulated users. Open model: the pool of users that run arrivals (at most this many
    operations in flight)."""
    spawn_rate: float = Field(50.0, gt=0)
    rate: float = Field(2.0, gt=0, le=1_000)
    """Closed model: operations per second each simulated user attempts (paced, jittered from the seed)."""
    arrivals: Rate | tuple[Rate, Rate] | None = None
    """Open model (k6's arrival-rate executors): operations per second started by the phase as a whole,
    ``800`` constant or ``[200, 800]`` ramping linearly over the phase, each run by a free user of the pool;
    an arrival that finds every user busy is dropped and counted. Exclusive with ``rate``."""

    @model_validator(mode="after")
    def _one_model(self) -> Phase:
        if self.arrivals is not None and "rate" in self.model_fields_set:
            raise ValueError("give `rate` (per user, closed model) or `arrivals` (per phase, open model)")
        if self.arrivals is not None and self.users < 1:
            raise ValueError("an arrivals phase needs users >= 1 (the pool that runs its arrivals)")
        return self

    @model_serializer(mode="wrap")
    def _dump(self, dump: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """An open phase is written without the closed model's ``rate`` (never acted on there), so that a
        written scenario (a run directory's ``scenario.json``) reads back: ``rate`` beside ``arrivals`` is
        refused."""
        data: dict[str, Any] = dump(self)
        if self.open:
            data.pop("rate", None)
        return data

    @property
    def open(self) -> bool:
        return self.arrivals is not None


class Load(Model):
    mix: dict[OpName, float] = {
        "pay": 60,
        "p2p": 15,
        "refund": 5,
        "balance": 15,
        "login": 2,
        "attack": 2,
        "unauthorized": 1,
        "auth_probe": 1,
        "idempotency_probe": 1,
        "refund_probe": 1,
    }
    amount: tuple[int, int] = (1, 500)
    client_timeout: Span = 2.0
    retries: int = Field(2, ge=0, le=10)
    """Retries of a transfer whose outcome is unknown, with the same idempotency key (as real apps do)."""
    duplicate_submit: float = Field(0.0, ge=0, le=1)
    """Probability that an acknowledged transfer is sent again with the same key (a double tap)."""
    max_ops: int = Field(200_000, ge=1)
    shape: list[Phase] = Field(min_length=1)

    @field_validator("mix")
    @classmethod
    def _positive_mix(cls, mix: dict[str, float]) -> dict[str, float]:
        if any(w < 0 for w in mix.values()) or sum(mix.values()) <= 0:
            raise ValueError("weights must be >= 0 and sum to more than 0")
        return mix

    @field_validator("amount")
    @classmethod
    def _amount_range(cls, amount: tuple[int, int]) -> tuple[int, int]:
        if not 0 < amount[0] <= amount[1] <= INT64:
            raise ValueError("expected [min, max] with 0 < min <= max <= 2^63-1")
        return amount

    @property
    def duration(self) -> float:
        return sum(p.for_ for p in self.shape)


class Expect(Model):
    """What the wallet must still deliver DURING one fault, judged over the client ops (pay, p2p, refund,
    balance) whose execution overlapped [apply invoked, heal invoked]."""

    availability: float | None = Field(None, gt=0, le=1)
    """Share of those ops that were available (not unknown, not 5xx, not a lost own session)."""
    p99: Span | None = Field(None, gt=0, le=3600)
    """p99 of their latency, invoke to completion, every outcome (never completed: up to the heal)."""

    @model_validator(mode="after")
    def _something(self) -> Expect:
        if self.availability is None and self.p99 is None:
            raise ValueError("expect needs availability and/or p99")
        return self


class FaultSpec(Model):
    at: Span | tuple[Span, Span]
    """Start time after load start; ``[10s, 15s]`` lets the seed pick a moment in that range."""
    for_: Span = Field(alias="for", gt=0)
    fault: str
    target: str
    params: dict[str, Any] = {}
    expect: Expect | None = None


class Recovery(Model):
    max: Span = 15.0
    success: float = Field(0.95, gt=0, le=1)
    hold: Span = 2.0


class FailFast(Model):
    """While the database is faulted (a fault on ``db`` or ``postgres``), the wallet must answer, not hang:
    judged over the client ops whose execution overlapped the fault window."""

    unknown_share: float = Field(0.2, ge=0, le=1)
    """At most this share of those ops may end unknown (timeouts, resets, unexpected 5xx)."""
    p99: Span = Field(1.5, gt=0, le=3600)
    """p99 of their latency (invoke to completion, every outcome) at most this."""


class Slo(Model):
    recovery: Recovery = Recovery()
    fail_fast: FailFast = FailFast()
    latency_p99: Span | None = None
    error_rate: float | None = Field(None, ge=0, le=1)
    dropped: float | None = Field(None, ge=0, le=1)
    """At most this share of the open-model phases' arrivals dropped (no free user when they were due)."""


class AbortIf(Model):
    error_rate: float = Field(ge=0, le=1)
    for_: Span = Field(alias="for", gt=0)


INVARIANTS = (
    "conservation",
    "durability",
    "applied_as_requested",
    "answers_match_ledger",
    "exactly_once",
    "refunds_bounded",
    "failed_not_applied",
    "no_wrong_refusals",
    "no_phantoms",
    "balances_match_ledger",
    "no_negative_balances",
    "audit_consistent",
    "users_see_audit",
    "authorization",
    "sessions_enforced",
    "lockout",
    "read_your_writes",
    "reads_in_order",
)


class Target(Model):
    """A wallet already running on this host: the harness puts a Toxiproxy ingress proxy in front of it."""

    url: str = Field(max_length=200)
    """``http://127.0.0.1:PORT`` (or ``[::1]``, ``localhost``): loopback only, no path."""
    admin_token_env: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=100)
    """The environment variable that holds the wallet's admin token (never the token itself)."""

    @field_validator("url")
    @classmethod
    def _loopback(cls, url: str) -> str:
        parts = urlsplit(url)
        try:
            port = parts.port
        except ValueError as exc:
            raise ValueError(f"bad port: {exc}") from None
        if parts.scheme != "http" or parts.hostname not in LOOPBACK or port is None:
            raise ValueError("expected http://127.0.0.1:PORT, http://[::1]:PORT or http://localhost:PORT")
        if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username or parts.password:
            raise ValueError("expected the wallet's base URL without path, query or credentials")
        return f"http://{parts.netloc}"

    @property
    def address(self) -> tuple[str, int]:
        parts = urlsplit(self.url)
        assert parts.hostname is not None and parts.port is not None
        return parts.hostname, parts.port


LOOPBACK = ("127.0.0.1", "::1", "localhost")
TARGET_FAULTS = (
    "only ingress network faults apply to a target: its processes and database are not the harness's"
)


class Scenario(Model):
    name: str = Field(pattern=r"^[a-z0-9_][a-z0-9_-]*$")
    description: str = ""
    seed: int = 1
    runtime: Literal["local", "docker"] = "local"
    target: Target | None = None
    wallet: WalletConfig = WalletConfig()
    database: Database = Database()
    accounts: Accounts = Accounts()
    load: Load
    faults: list[FaultSpec] = []
    invariants: list[Literal[INVARIANTS]] | Literal["all"] = "all"  # type: ignore[valid-type]
    slo: Slo = Slo()
    abort_if: AbortIf | None = None

    def problems(self) -> list[tuple[tuple[str | int, ...], str]]:
        """What a valid model can still get wrong as a whole, each at its field: faults outside the load,
        reversed ranges, targets the stack will not have, defects and settings the wallet does not know,
        totals beyond int64. The loader reports these with file:line:col like any other problem."""
        out = [*self._fault_problems(), *self._wallet_problems(), *self._target_problems()]
        for i, f in enumerate(self.faults if not self.database.standby else []):
            if f.fault == "process.failover" or f.target == "replication":
                what = "process.failover" if f.fault == "process.failover" else "the replication link"
                out.append((("faults", i, "fault"), f"{what} needs a standby: database: {{standby: true}}"))
        if "replication" in self.database.model_fields_set and not self.database.standby:
            out.append((("database", "replication"), "not acted on without database.standby: true"))
        if self.database.standby and self.target is not None:
            out.append((("database", "standby"), "not with target: the harness does not own its database"))
        if self.slo.dropped is not None and not any(p.open for p in self.load.shape):
            out.append((("slo", "dropped"), "no phase has `arrivals`: nothing can be dropped"))
        # accepted by the model but not acted on yet: refused, or a run would silently test something else
        if self.wallet.version != WalletConfig.model_fields["version"].default:
            out.append((("wallet", "version"), "not acted on yet: wallet versions are rolled with `deploy`"))
        a = self.accounts
        total = (a.users + a.attack_targets) * a.user_balance + a.merchants * a.merchant_balance
        if total > INT64:
            out.append((("accounts",), f"initial balances sum to {total}, beyond a 64-bit integer"))
        return out

    def warnings(self) -> list[tuple[tuple[str | int, ...], str]]:
        """Valid, but measured through something else: a fault that may start after an earlier one healed
        but inside its recovery window (heal + ``slo.recovery.max``), whose recovery is then judged through
        the later fault (faults that always run together are composed on purpose and not warned about).
        ``validate`` and ``run`` print these; they do not stop a run."""
        grace = self.slo.recovery.max
        out: list[tuple[tuple[str | int, ...], str]] = []

        def starts(f: FaultSpec) -> tuple[float, float]:
            return f.at if isinstance(f.at, tuple) else (f.at, f.at)

        for i, earlier in enumerate(self.faults):
            lo_i, hi_i = starts(earlier)
            until = hi_i + earlier.for_ + grace
            for j, later in enumerate(self.faults):
                lo_j, hi_j = starts(later)
                # faults that always overlap the earlier one are composed on purpose (latency + failover)
                if j == i or (lo_j, j) < (lo_i, i) or hi_j < lo_i + earlier.for_ or lo_j >= until:
                    continue
                out.append(
                    (
                        ("faults", j, "at"),
                        f"may start while faults[{i}] ({earlier.fault} on {earlier.target}) is healing or "
                        f"recovering (until {until:g}s = heal + slo.recovery.max {grace:g}s): faults[{i}]'s "
                        "recovery is then measured through this fault",
                    )
                )
        return out

    def _fault_problems(self) -> list[tuple[tuple[str | int, ...], str]]:
        out: list[tuple[tuple[str | int, ...], str]] = []
        total = self.load.duration
        for i, f in enumerate(self.faults):
            if isinstance(f.at, tuple) and f.at[0] > f.at[1]:
                out.append((("faults", i, "at"), f"range [{f.at[0]:g}s, {f.at[1]:g}s] is reversed"))
            start = f.at[1] if isinstance(f.at, tuple) else f.at
            if start >= total:
                out.append(
                    (("faults", i, "at"), f"starts at {start:g}s but the load shape ends at {total:g}s")
                )
            try:
                base, index = split_target(f.target)
            except ValueError:
                continue  # the fault registry reports malformed targets
            if index is not None and base in SINGLE:
                out.append((("faults", i, "target"), f"'{base}' has no replicas: write '{base}'"))
            elif index is not None and index >= self.wallet.replicas:
                out.append(
                    (
                        ("faults", i, "target"),
                        f"'{f.target}' but wallet.replicas is {self.wallet.replicas} "
                        f"(valid: 0..{self.wallet.replicas - 1})",
                    )
                )
        return out

    def _target_problems(self) -> list[tuple[tuple[str | int, ...], str]]:
        """A target is one wallet the harness did not start: it owns no process, database or version."""
        if self.target is None:
            return []
        out: list[tuple[tuple[str | int, ...], str]] = []
        w = self.wallet
        for name in ("command", "image", "env", "defects", "replicas", "balancer"):
            if name in w.model_fields_set:
                out.append(
                    (
                        ("wallet", name),
                        f"not with target: the harness does not start the wallet at {self.target.url}",
                    )
                )
        for i, f in enumerate(self.faults):
            base = f.target.partition("[")[0]
            if not (f.fault.startswith("network.") and base == "ingress"):
                out.append(
                    (("faults", i, "target" if f.fault.startswith("network.") else "fault"), TARGET_FAULTS)
                )
        return out

    def runtime_problems(self, runtime: str) -> list[tuple[tuple[str | int, ...], str]]:
        """What ``runtime`` cannot run: commands (the wallet's and deploy's) start local processes."""
        out: list[tuple[tuple[str | int, ...], str]] = []
        if runtime != "docker":
            if self.wallet.image is not None:
                out.append((("wallet", "image"), "runs on the docker runtime (runtime: docker)"))
            for i, f in enumerate(self.faults):
                if f.fault == "deploy" and "image" in f.params:
                    out.append(
                        (("faults", i, "params", "image"), "an image deploy runs on the docker runtime")
                    )
            return out
        if self.target is not None:
            out.append(
                (("target",), "a target runs on the local runtime (Toxiproxy as a process in front of it)")
            )
        if self.wallet.command is not None:
            out.append(
                (
                    ("wallet", "command"),
                    "runs on the local runtime; on the docker runtime give your wallet as wallet.image",
                )
            )
        for i, f in enumerate(self.faults):
            if f.fault == "deploy" and "command" in f.params:
                out.append((("faults", i, "params", "command"), "a command deploy runs on the local runtime"))
        return out

    def _command_problems(self) -> list[tuple[tuple[str | int, ...], str]]:
        from .stack.wallet import template_problem

        out = self.runtime_problems(self.runtime)
        yours = self.wallet.command is not None or self.wallet.image is not None
        for i, f in enumerate(self.faults):
            if f.fault == "deploy" and yours and "defects" in f.params:
                out.append(
                    (
                        ("faults", i, "params", "defects"),
                        "defects are the reference wallet's; roll yours with params.command or .image",
                    )
                )
        if self.wallet.command is not None and self.wallet.image is not None:
            out.append((("wallet", "image"), "give either command (local runtime) or image (docker runtime)"))
        if self.wallet.env and not yours:
            out.append(
                (
                    ("wallet", "env"),
                    "the environment of your command or image; the reference wallet takes settings",
                )
            )
        if self.wallet.image is not None and self.wallet.defects:
            out.append(
                (
                    ("wallet", "defects"),
                    "defects are the reference wallet's; build the defective image itself",
                )
            )
        command = self.wallet.command
        if command is None:
            return out
        problem = template_problem(command)
        if problem:
            out.append((("wallet", "command"), problem))
        if self.wallet.defects:
            out.append(
                (
                    ("wallet", "defects"),
                    "defects are the reference wallet's; with a command, start the defective version itself",
                )
            )
        return out

    def _wallet_problems(self) -> list[tuple[tuple[str | int, ...], str]]:
        from .stack import reference

        out: list[tuple[tuple[str | int, ...], str]] = self._command_problems()
        if self.wallet.command is not None or self.wallet.image is not None or self.target is not None:
            return out  # settings describe the user's wallet (the lockout rule); they are not its flags
        catalog = reference.known_defects()
        for j, name in enumerate(self.wallet.defects):
            if name not in catalog:
                out.append(
                    (("wallet", "defects", j), f"unknown defect '{name}' (known: {', '.join(catalog)})")
                )
        known = reference.known_settings()
        for name in self.wallet.settings:
            if name not in known:
                close = difflib.get_close_matches(name, known, n=1)
                hint = f"; did you mean '{close[0]}'?" if close else ""
                out.append((("wallet", "settings", name), f"unknown wallet setting '{name}'{hint}"))
        return out

    def checked_invariants(self) -> tuple[str, ...]:
        return INVARIANTS if self.invariants == "all" else tuple(self.invariants)
