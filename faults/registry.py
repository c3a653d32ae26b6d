"""Fault families by name, discovered through the ``walletchaos.faults`` entry-point group."""

from __future__ import annotations

import difflib
from functools import cache
from importlib.metadata import entry_points
from typing import Any

from .base import Fault, Problems


@cache
def families() -> dict[str, type[Fault]]:
    found: dict[str, type[Fault]] = {}
    for ep in entry_points(group="walletchaos.faults"):
        cls = ep.load()
        found[cls.family] = cls
    return found


def all_names() -> list[str]:
    return sorted(
        f"{fam}.{kind}" if kind != fam else fam for fam, cls in families().items() for kind in cls.kinds
    )


def resolve(name: str) -> tuple[type[Fault], str]:
    """``network.latency`` -> (NetworkFault, "latency"); ``deploy`` -> (DeployFault, "deploy")."""
    family, _, kind = name.partition(".")
    cls = families().get(family)
    kind = kind or family
    if cls is None or kind not in cls.kinds:
        close = difflib.get_close_matches(name, all_names(), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise KeyError(f"unknown fault '{name}'{hint} (run `walletchaos list-faults`)")
    return cls, kind


def check_spec(spec: dict[str, Any]) -> Problems:
    name, target, params = spec.get("fault"), spec.get("target"), spec.get("params") or {}
    if not isinstance(name, str) or not isinstance(target, str) or not isinstance(params, dict):
        return []  # the model validation already reports missing or mistyped fields
    try:
        cls, kind = resolve(name)
    except KeyError as exc:
        return [("fault", str(exc.args[0]))]
    return cls.check(kind, target, params)
