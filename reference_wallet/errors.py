"""One error type for every definite answer the wallet gives, rendered as ``{"error", "detail"}``."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """A definite, documented failure: nothing was applied."""

    def __init__(self, status: int, code: str, detail: str = "", **extra: Any) -> None:
        super().__init__(f"{status} {code}: {detail}")
        self.status, self.code, self.detail, self.extra = status, code, detail, extra

    def body(self) -> dict[str, Any]:
        return {"error": self.code, "detail": self.detail, **self.extra}


def unavailable(detail: str = "database unreachable") -> ApiError:
    return ApiError(503, "unavailable", detail)


class CommitUnknown(Exception):
    """The database went away while COMMIT was in flight: the outcome is unknown (answered as 500)."""
