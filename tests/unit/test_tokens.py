"""Session tokens live at least their advertised ttl, whatever fraction of a second they were issued in."""

from __future__ import annotations

import pytest

from reference_wallet.auth import TokenSigner


@pytest.mark.parametrize("issued_at", [100.0, 100.01, 100.5, 100.99])
def test_a_token_lives_its_full_ttl(issued_at: float) -> None:
    signer = TokenSigner("admin-secret", ttl_s=1)
    token = signer.issue(7, now=issued_at)
    assert signer.verify(token, now=issued_at + 0.999) is not None
    assert signer.verify(token, now=issued_at + 2.0) is None


def test_a_tampered_token_is_refused() -> None:
    signer = TokenSigner("admin-secret", ttl_s=60)
    payload, sig = signer.issue(7, now=0.0).split(".")
    assert signer.verify(f"{payload}.{sig}", now=1.0) is not None
    assert signer.verify(f"{payload}x.{sig}", now=1.0) is None
