"""Time spans as users write them: ``500ms``, ``30s``, ``2m``, ``1h``, or a bare number of seconds."""

from __future__ import annotations

import math
import re

_SPAN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}
FORMS = "a time span like 500ms, 30s, 2m"
MAX_SPAN = 7 * 24 * 3600.0
"""No span in a scenario is longer than a week: a bounded run is the point."""


def parse_span(value: object) -> float:
    """Seconds as a float; raises ValueError with the valid forms for anything else."""
    if isinstance(value, bool):
        raise ValueError(f"expected {FORMS}; got {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _SPAN.match(str(value))
        if not match:
            raise ValueError(f"expected {FORMS}; got {value!r}")
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"expected a finite, non-negative span like 500ms, 30s, 2m; got {value!r}")
    if seconds > MAX_SPAN:
        raise ValueError(f"{fmt_span(seconds)} is longer than a week; expected {FORMS}")
    return seconds


def fmt_span(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 120:
        return f"{seconds:.1f}s"
    return f"{seconds / 60:.1f}m" if seconds < 7200 else f"{seconds / 3600:.1f}h"
