"""The reference wallet, the default wallet under test: the one place that knows its flags, its defect
catalog and its settings. Both runtimes start it from ``args``; validation and deploy ask this module."""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Mapping

import httpx

from ..errors import InfraError

DEFAULT_SETTINGS: dict[str, object] = {"kdf_log2_n": 10}
"""Cheap password hashing under load (the wallet's own default is the production cost)."""

COMMAND = "{python} -m reference_wallet --host {host} --port {port} --database-url {database_url}"
"""The reference wallet as a wallet command like any other (its admin token comes by environment)."""


def args(defects: Iterable[str], settings: Mapping[str, object]) -> list[str]:
    """The flags after host, port and database: the version carrying ``defects`` with ``settings``."""
    argv = ["--defects", ",".join(sorted(defects))] if defects else []
    for key, value in sorted({**DEFAULT_SETTINGS, **settings}.items()):
        argv += ["--set", f"{key}={value}"]
    return argv


def command(defects: Iterable[str], settings: Mapping[str, object]) -> str:
    """A wallet command template (placeholders in braces) for that version."""
    flags = shlex.join(args(defects, settings)).replace("{", "{{").replace("}", "}}")
    return f"{COMMAND} {flags}".rstrip()


def read_defects(url: str) -> list[str]:
    """The defects a running reference wallet says it carries (GET /version)."""
    try:
        return sorted(httpx.get(url + "/version", timeout=2).json()["defects"])
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
        raise InfraError(f"{url}: cannot read /version: {exc}") from exc


def known_defects() -> dict[str, str]:
    """Defect name -> what it breaks."""
    from reference_wallet.defects import CATALOG

    return {name: d.breaks for name, d in CATALOG.items()}


def known_settings() -> list[str]:
    from reference_wallet.config import Settings

    return sorted(set(Settings.__dataclass_fields__) - {"database_url", "admin_token", "defects", "extra"})
