"""Time spans as users write them: ``500ms``, ``30s``, ``2m``, ``1h``, or a bare number of seconds."""

from __future__ import annotations

import re

_SPAN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}
FORMS = "a time span like 500ms, 30s, 2m"


def parse_span(value: object) -> float:
    """Seconds as a float; raises ValueError with the valid forms for anything else."""
    if isinstance(value, bool):
        raise ValueError(f"expected {FORMS}; got {value!r}")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"expected a non-negative {FORMS}; got {value!r}")
        return float(value)
    match = _SPAN.match(str(value))
    if not match:
        raise ValueError(f"expected {FORMS}; got {value!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def fmt_span(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    return f"{seconds:.1f}s" if seconds < 120 else f"{seconds / 60:.1f}m"
