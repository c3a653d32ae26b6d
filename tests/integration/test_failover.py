"""process.failover against a real primary and streaming standby (both runtimes): the primary is killed,
the standby promoted and the db link pointed at it, the wallet serves again through the same link, nothing
committed before is lost with synchronous replication, and the heal rebuilds the old primary as the new
primary's standby, streaming again."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import docker_stack, local_stack
from walletchaos import fault as registry
from walletchaos.stack.proc import http_ok

DATABASE = {"standby": True, "replication": "sync"}


@pytest.fixture(scope="module", params=["local", pytest.param("docker", marks=pytest.mark.docker)])
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    if request.param == "local":
        yield from local_stack(tmp_path_factory, "failover", wallet={"replicas": 1}, database=DATABASE)
        return
    yield from docker_stack(tmp_path_factory, "failover", wallet={"replicas": 1}, database=DATABASE)


def test_failover_promotes_repoints_and_the_heal_rebuilds_a_standby(stack: Any) -> None:
    assert stack.pg is not None and stack.standby is not None
    primary, standby = stack.pg, stack.standby
    assert primary.streaming_to("standby") == "sync"
    primary.sql("CREATE TABLE marks (n int)")
    primary.sql("INSERT INTO marks VALUES (1)")  # acknowledged: synchronous, so on the standby too
    cls, kind = registry.resolve("process.failover")
    assert cls.check(kind, "postgres", {}) == []
    assert cls.check(kind, "wallet", {}) != []
    f = cls(kind, "postgres", {}, stack)
    applied = f.apply()
    assert applied["promoted"] == f"port {standby.port}" and not primary.is_up()
    assert stack.pg is standby and standby.sql("SELECT pg_is_in_recovery()") == "f"
    assert standby.sql("SELECT count(*) FROM marks") == "1", "a synchronous failover loses nothing"
    assert stack.toxiproxy.proxy("db")["upstream"] == f"127.0.0.1:{standby.port}"
    wallet = stack.replicas()[0].url
    deadline = time.monotonic() + 15
    while not http_ok(wallet + "/readyz"):  # the wallet reconnects through the same db link
        assert time.monotonic() < deadline, "the wallet did not reach the promoted primary"
        time.sleep(0.2)
    healed = f.heal()
    rebuilt = stack.standby  # the failed primary, cloned afresh (local: its directory; docker: a container)
    assert healed["standby"] == "sync" and rebuilt is not standby and rebuilt.is_up()
    standby.sql("INSERT INTO marks VALUES (2)")
    deadline = time.monotonic() + 5  # synchronous commit waits for the standby's flush, not its replay
    while rebuilt.sql("SELECT count(*) FROM marks") != "2":
        assert time.monotonic() < deadline, "the rebuilt standby does not follow the new primary"
        time.sleep(0.05)
    assert f.heal() == {"standby": "already streaming"}  # a heal is safe to call again
