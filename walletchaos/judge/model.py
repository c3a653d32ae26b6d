"""Results and the verdict. Validity is True (valid), False (violated) or None (unknown)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from ..errors import EXIT_INVALID, EXIT_UNKNOWN, EXIT_VALID
from .facts import FaultWindow

Validity = bool | None
MAX_LISTED = 10_000
"""verdict.json lists every offender up to this many (``count`` always has the true number)."""


def worst(validities: Iterable[Validity]) -> Validity:
    """False beats None beats True."""
    seen = list(validities)
    if False in seen:
        return False
    return None if None in seen else True


def validity_word(v: Validity) -> str:
    return {True: "valid", False: "invalid", None: "unknown"}[v]


@dataclass
class Result:
    """One check. ``first``/``worst``/``last`` are offending ops (by history index) with what they show."""

    name: str
    kind: str  # invariant | evidence | recovery | slo
    valid: Validity
    summary: str
    count: int = 0
    first: dict[str, Any] | None = None
    worst: dict[str, Any] | None = None
    last: dict[str, Any] | None = None
    details: dict[str, Any] = field(default_factory=dict)
    formula: str = ""
    exercised: int | None = None
    """How many ops (or ledger transfers, accounts) the check looked at; 0 means "not exercised"."""
    counted: bool = True
    """False for a check the scenario did not ask for by name that nothing exercised: shown, not judged."""
    seconds: float = 0.0
    """How long the judge took for it (a checker that yields several results shares its time)."""

    @property
    def word(self) -> str:
        """valid / invalid / unknown, or "not exercised" when nothing exercised the check."""
        return (
            "not exercised" if self.exercised == 0 and self.valid is not False else validity_word(self.valid)
        )

    @classmethod
    def from_offenders(
        cls,
        name: str,
        kind: str,
        offenders: list[dict[str, Any]],
        ok_summary: str,
        bad_summary: str,
        severity: str | None = None,
        formula: str = "",
        exercised: int | None = None,
        **details: Any,
    ) -> Result:
        """Build a result from offending ops (dicts with at least ``index``), worst by ``severity``.
        Every offender is kept in ``details["offenders"]`` (first/worst/last are the headline)."""
        if not offenders:
            return cls(name, kind, True, ok_summary, formula=formula, details=details, exercised=exercised)
        # evidence from the audit (no history op) has index None and sorts after the ops, by its own order
        ordered = sorted(offenders, key=lambda o: (o.get("index") is None, o.get("index") or 0))
        worst_op = max(ordered, key=lambda o: abs(o.get(severity, 0))) if severity else ordered[0]
        return cls(
            name,
            kind,
            False,
            bad_summary.format(n=len(offenders)),
            len(offenders),
            ordered[0],
            worst_op,
            ordered[-1],
            {**details, "offenders": ordered[:MAX_LISTED], "listed": min(len(ordered), MAX_LISTED)},
            formula,
            exercised,
        )


@dataclass
class Verdict:
    valid: Validity
    results: list[Result]
    stats: dict[str, Any]
    windows: list[FaultWindow] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return {True: EXIT_VALID, False: EXIT_INVALID, None: EXIT_UNKNOWN}[self.valid]

    def counted(self) -> list[Result]:
        return [r for r in self.results if r.counted]

    def violated(self) -> list[Result]:
        return [r for r in self.results if r.valid is False]

    def to_json(self) -> dict[str, Any]:
        return {
            "valid": validity_word(self.valid),
            "results": [{**asdict(r), "valid": validity_word(r.valid), "word": r.word} for r in self.results],
            "stats": self.stats,
        }
