"""Shared fixtures: a throwaway PostgreSQL cluster per session, a fresh database and wallet per test."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from walletchaos import fault as registry
from walletchaos.fault import Fault
from walletchaos.scenario import Scenario
from walletchaos.stack.local import LocalStack
from walletchaos.stack.postgres import PostgresCluster
from walletchaos.stack.proc import free_port
from walletchaos.stack.wallet import WalletProcess

ADMIN = "test-admin-token"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        layer = Path(str(item.fspath)).parent.name
        if layer in ("unit", "integration", "e2e"):
            item.add_marker(getattr(pytest.mark, layer))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    skipped = terminalreporter.stats.get("skipped", [])
    if any("DOCKER ENGINE UNAVAILABLE" in str(getattr(r, "longrepr", "")) for r in skipped):
        terminalreporter.write_sep(
            "!", "DOCKER ENGINE UNAVAILABLE: the docker runtime was NOT tested", red=True
        )


@pytest.fixture(scope="session")
def pg() -> Iterator[PostgresCluster]:
    cluster = PostgresCluster.fresh(free_port())
    cluster.init()
    yield cluster
    cluster.destroy()


@pytest.fixture
def own_pg() -> Iterator[PostgresCluster]:
    """A cluster of the test's own, for tests that stop, pause or kill it."""
    cluster = PostgresCluster.fresh(free_port())
    cluster.init()
    yield cluster
    cluster.destroy()


def create_database(pg: PostgresCluster) -> str:
    name = f"t_{uuid.uuid4().hex[:12]}"
    subprocess.run(
        ["psql", pg.dsn, "-qc", f"CREATE DATABASE {name} OWNER {pg.user}"], check=True, capture_output=True
    )
    return pg.dsn.rsplit("/", 1)[0] + "/" + name


class Wallet:
    """A running wallet plus clients: ``admin`` (admin token) and ``login()`` for user sessions."""

    def __init__(self, proc: WalletProcess) -> None:
        self.proc = proc
        self.url = proc.url
        self.clients: list[httpx.Client] = []
        self.admin = self.client(ADMIN)
        self.anon = self.client(None)

    def client(self, token: str | None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.clients.append(httpx.Client(base_url=self.url, timeout=10, headers=headers))
        return self.clients[-1]

    def close(self) -> None:
        for c in self.clients:
            c.close()

    def accounts(self, *specs: tuple[str, int, str]) -> list[int]:
        body = {
            "accounts": [{"username": u, "password": "pw-" + u, "balance": b, "kind": k} for u, b, k in specs]
        }
        r = self.admin.post("/v1/admin/accounts", json=body)
        assert r.status_code == 201, r.text
        return [a["id"] for a in r.json()["accounts"]]

    def login(self, username: str) -> httpx.Client:
        r = self.anon.post("/v1/sessions", json={"username": username, "password": "pw-" + username})
        assert r.status_code == 201, r.text
        return self.client(r.json()["token"])

    def transfer(
        self, client: httpx.Client, key: str, src: int, dst: int, amount: int, **extra: Any
    ) -> httpx.Response:
        body = {"from": src, "to": dst, "amount": amount, "currency": "CNY", **extra}
        return client.post("/v1/transfers", json=body, headers={"Idempotency-Key": key})

    def snapshot(self) -> dict[str, Any]:
        return self.admin.get("/v1/audit/snapshot").json()  # type: ignore[no-any-return]

    def ledger(self) -> list[dict[str, Any]]:
        import json

        return [json.loads(line) for line in self.admin.get("/v1/audit/ledger").text.splitlines()]


@pytest.fixture
def wallet_factory(pg: PostgresCluster, tmp_path: Path) -> Iterator[Callable[..., Wallet]]:
    started: list[WalletProcess] = []
    wallets: list[Wallet] = []

    def start(
        defects: tuple[str, ...] = (),
        database_url: str | None = None,
        command: str | None = None,
        **settings: object,
    ) -> Wallet:
        """The reference wallet carrying ``defects``, or any wallet ``command`` (scenario placeholders)."""
        if command is None:
            settings.setdefault("kdf_log2_n", 10)
        proc = WalletProcess(
            f"wallet{len(started)}",
            free_port(),
            database_url or create_database(pg),
            ADMIN,
            tmp_path / f"wallet{len(started)}.log",
            defects,
            settings,
            command,
        )
        started.append(proc)
        proc.start(ready=True)
        wallets.append(Wallet(proc))
        return wallets[-1]

    yield start
    for w in wallets:
        w.close()
    for proc in started:
        proc.stop()


@pytest.fixture
def wallet(wallet_factory: Callable[..., Wallet]) -> Wallet:
    return wallet_factory()


def judged_apart_from_expectations(verdict: dict[str, Any], exit_code: int) -> list[tuple[str, str]]:
    """For a wallet other than the reference one under a shipped scenario: what is not valid, apart from
    the scenario's per-fault ``expect`` (stated for the reference wallet; another wallet may not degrade as
    gracefully, and then the run is INVALID on that alone). Each expectation must have been judged, and the
    exit code must follow from them."""
    results = [r for r in verdict["results"] if r.get("counted", True)]
    expectations = [r for r in results if r["name"].startswith("expect: ")]
    assert expectations and all(r["valid"] in ("valid", "invalid") for r in expectations), expectations
    assert exit_code == (0 if all(r["valid"] == "valid" for r in expectations) else 1), exit_code
    return [(r["name"], r["summary"]) for r in results if r["valid"] != "valid" and r not in expectations]


def faults_on(*links: str) -> list[dict[str, Any]]:
    """Scenario faults naming ``links``: a stack proxies through Toxiproxy only the links its scenario's
    faults act on, so a fixture whose tests fault a link says so."""
    return [{"at": "0s", "for": "1s", "fault": "network.latency", "target": link} for link in links]


def local_stack(tmp_path_factory: pytest.TempPathFactory, name: str, **scenario: Any) -> Iterator[LocalStack]:
    """A started local stack (one phase of load, never driven) for fault tests; closed after the module."""
    model = Scenario.model_validate(
        {"name": name, "load": {"shape": [{"phase": "p", "for": "1s", "users": 1}]}, **scenario}
    )
    stack = LocalStack(model, Path(tmp_path_factory.mktemp("run")), "admin-token")
    stack.start()
    yield stack
    stack.close()


def docker_stack(tmp_path_factory: pytest.TempPathFactory, name: str, **scenario: Any) -> Iterator[Any]:
    """A started docker stack (one phase of load, never driven) for fault tests, closed after the module
    with none of its containers left; skipped, loudly, only when no Docker engine can be reached."""
    from walletchaos.errors import InfraError
    from walletchaos.stack.containers import LABEL, DockerStack, engine

    try:
        client = engine()
    except InfraError as exc:
        pytest.skip(f"DOCKER ENGINE UNAVAILABLE, docker runtime NOT TESTED: {exc}")
    model = Scenario.model_validate(
        {
            "name": name,
            "runtime": "docker",
            "load": {"shape": [{"phase": "p", "for": "1s", "users": 1}]},
            **scenario,
        }
    )
    stack = DockerStack(model, Path(tmp_path_factory.mktemp("run")) / "20260101T000000Z", "admin-token")
    try:
        stack.start()
        yield stack
    finally:
        stack.close()
    assert client.containers.list(all=True, filters={"label": f"{LABEL}={stack.run_id}"}) == []


def make_fault(stack: Any, name: str, target: str, **params: object) -> Fault:
    """The fault ``name`` on ``target`` against ``stack``, after its static check passed."""
    cls, kind = registry.resolve(name)
    assert cls.check(kind, target, dict(params)) == []
    return cls(kind, target, dict(params), stack)
