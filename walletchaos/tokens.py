"""Session-token helpers shared by the load's auth probe and the conformance probe (standard library only)."""

from __future__ import annotations


def tampered(token: str) -> str:
    """The same token with its last character changed (the signature no longer matches)."""
    return token[:-1] + ("A" if token[-1:] != "A" else "B")
