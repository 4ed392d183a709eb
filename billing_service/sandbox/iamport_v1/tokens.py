"""I'mport's access token: one current token per key, reused, extended, replaced once expired."""

from __future__ import annotations

import dataclasses
import hmac
import secrets
import threading

from ..clock import Clock

DEFAULT_TOKEN_TTL = 1800  # a fresh I'mport token lives 30 minutes
TOKEN_EXTEND_WINDOW = 60  # a repeat getToken within the last minute...
TOKEN_EXTENSION = 300  # ...extends the same token by 5 minutes


@dataclasses.dataclass
class _Token:
    value: str
    expired_at: int


class Tokens:
    """The credentials getToken accepts and the token it hands out, guarded by a lock."""

    def __init__(self, api_key: str, api_secret: str, clock: Clock, token_ttl: int) -> None:
        self.api_key = api_key
        self.api_secret = api_secret
        self.token_ttl = token_ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._token: _Token | None = None

    def reset(self) -> None:
        """Forget the token: the next getToken issues a new one."""
        with self._lock:
            self._token = None

    def credentials_ok(self, key: str, secret: str) -> bool:
        """Compare credentials in constant time (the sandbox may be exposed on a LAN)."""
        key_ok = hmac.compare_digest(key.encode(), self.api_key.encode())
        secret_ok = hmac.compare_digest(secret.encode(), self.api_secret.encode())
        return key_ok and secret_ok

    def get_token(self) -> tuple[str, int, int]:
        """Issue or reuse the token like I'mport does; return (access_token, now, expired_at).

        I'mport keeps one current token per key so that many servers of one merchant end up
        sharing it: a repeat call returns the same token and expiry, a call in the last
        minute extends it by 5 minutes, and only an expired token is replaced.
        """
        with self._lock:
            now = self._clock.now()
            token = self._token
            if token is None or now >= token.expired_at:
                token = _Token(secrets.token_hex(20), now + self.token_ttl)
                self._token = token
            elif token.expired_at - now <= TOKEN_EXTEND_WINDOW:
                token.expired_at += TOKEN_EXTENSION
            return token.value, now, token.expired_at

    def token_valid(self, value: str) -> bool:
        """True when `value` is the current, unexpired token."""
        with self._lock:
            token = self._token
            if token is None or not hmac.compare_digest(value.encode(), token.value.encode()):
                return False
            return self._clock.now() < token.expired_at

    def expire_tokens(self) -> int:
        """Make the current token expire now; return how many tokens were expired (0 or 1)."""
        with self._lock:
            if self._token is None:
                return 0
            self._token.expired_at = min(self._token.expired_at, self._clock.now())
            return 1
