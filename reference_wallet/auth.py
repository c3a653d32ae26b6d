"""Passwords (scrypt), signed expiring session tokens, constant-time admin check."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import os
import time
from dataclasses import dataclass


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_password(password: str, log2_n: int) -> str:
    """scrypt with a random salt; the cost is stored in the hash so it can change later."""
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**log2_n, r=8, p=1, dklen=32)
    return f"scrypt${log2_n}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    _, log2_n, salt, digest = stored.split("$")
    got = hashlib.scrypt(password.encode(), salt=_unb64(salt), n=2 ** int(log2_n), r=8, p=1, dklen=32)
    return hmac.compare_digest(got, _unb64(digest))


@dataclass(frozen=True)
class Session:
    account_id: int
    expires_at: float


class TokenSigner:
    """HMAC-SHA256 signed tokens ``payload.signature``; the key is derived from the admin token."""

    def __init__(self, admin_token: str, ttl_s: int) -> None:
        self._key = hmac.new(admin_token.encode(), b"walletchaos-session-v1", hashlib.sha256).digest()
        self._admin = admin_token.encode()
        self.ttl_s = ttl_s

    def issue(self, account_id: int, now: float | None = None) -> str:
        now = time.time() if now is None else now
        body = json.dumps({"sub": account_id, "exp": math.ceil(now + self.ttl_s), "n": _b64(os.urandom(6))})
        payload = _b64(body.encode())
        return f"{payload}.{self._sign(payload)}"

    def verify(self, token: str, now: float | None = None, check_signature: bool = True) -> Session | None:
        """The session, or None when the token is malformed, tampered with or expired.
        ``check_signature=False`` is the accept_tampered_token defect."""
        payload, _, signature = token.partition(".")
        if not signature or (check_signature and not hmac.compare_digest(signature, self._sign(payload))):
            return None
        try:
            claims = json.loads(_unb64(payload))
            sub, exp = claims["sub"], claims["exp"]
        except (ValueError, KeyError, TypeError):
            return None
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (sub, exp)):
            return None  # an expiry must be a finite integer (no floats, no Infinity)
        session = Session(sub, float(exp))
        return session if session.expires_at > (time.time() if now is None else now) else None

    def is_admin(self, token: str) -> bool:
        return hmac.compare_digest(token.encode(), self._admin)

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._key, payload.encode(), hashlib.sha256).digest())
