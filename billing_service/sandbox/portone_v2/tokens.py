"""Bearer tokens of `POST /login/api-secret` and `POST /token/refresh` (PortOne's other way in,
beside `PortOne <secret>` on every call)."""

from __future__ import annotations

import hmac
import secrets
import threading

from ..clock import Clock

ACCESS_TOKEN_TTL = 1800  # 30 minutes
REFRESH_TOKEN_TTL = 86_400  # 1 day


class Tokens:
    """The secret accepted, the access tokens issued, the one refresh token still valid.

    Each login or refresh expires the previous refresh token at once: a refresh token has one
    holder, so two replicas that log in in turn cancel each other's (the note's §1.2).
    """

    def __init__(self, secret: str, clock: Clock) -> None:
        self.secret = secret
        self._clock = clock
        self._lock = threading.Lock()
        self._access: dict[str, int] = {}  # token -> expiry (sandbox seconds)
        self._refresh: tuple[str, int] | None = None

    def reset(self) -> None:
        with self._lock:
            self._access.clear()
            self._refresh = None

    def secret_ok(self, secret: str) -> bool:
        return hmac.compare_digest(secret.encode(), self.secret.encode())

    def _issue(self) -> dict[str, str]:
        now = self._clock.now()
        self._access = {token: end for token, end in self._access.items() if end > now}
        access, refresh = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        self._access[access] = now + ACCESS_TOKEN_TTL
        self._refresh = (refresh, now + REFRESH_TOKEN_TTL)
        return {"accessToken": access, "refreshToken": refresh}

    def login(self, secret: str) -> dict[str, str] | None:
        """`{accessToken, refreshToken}` for the right secret, else None (401)."""
        if not self.secret_ok(secret):
            return None
        with self._lock:
            return self._issue()

    def refresh(self, token: str) -> dict[str, str] | None:
        """New tokens for the current, unexpired refresh token, else None (401)."""
        with self._lock:
            current = self._refresh
            if current is None or current[1] <= self._clock.now():
                return None
            if not hmac.compare_digest(token.encode(), current[0].encode()):
                return None
            return self._issue()

    def access_ok(self, token: str) -> bool:
        with self._lock:
            end = self._access.get(token)
            return end is not None and end > self._clock.now()
