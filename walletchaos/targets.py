"""Fault target names as scenarios write them: ``db``, ``postgres``, ``replication``, ``ingress``, ``wallet``
or an indexed ``ingress[i]`` / ``wallet[i]``. Shared by the scenario model, the stack and the judge (no
I/O here)."""

from __future__ import annotations

import re

SINGLE = ("db", "postgres", "replication")
"""Targets that have no replicas (never indexed): the db link, the primary, the standby's replication link."""

_INDEXED = re.compile(r"^(?P<base>[a-z]+)(?:\[(?P<i>\d+)\])?$")


def split_target(target: str) -> tuple[str, int | None]:
    """``wallet[1]`` -> ("wallet", 1); ``db`` -> ("db", None); ValueError for anything else."""
    m = _INDEXED.match(target)
    if not m:
        raise ValueError(f"bad target {target!r}")
    return m.group("base"), (int(m.group("i")) if m.group("i") is not None else None)
