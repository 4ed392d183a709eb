"""A per-process cache of the I'mport access token, refreshed by one thread at a time."""

from __future__ import annotations

import threading
from collections.abc import Callable

from .models import AccessToken

# Refresh a minute early: a token asked for again in its last minute comes back with five more
# minutes (I'mport's "reuse and extend" rule), so early refreshes never multiply tokens.
REFRESH_MARGIN = 60.0


class AccessTokenCache:
    """Hands out a valid access token, fetching a new one only when the cached one is stale.

    Expiry is measured on our monotonic clock from I'mport's ``expired_at - now``, so clock skew
    between us and I'mport does not matter.
    """

    def __init__(self, fetch: Callable[[], AccessToken], clock: Callable[[], float]) -> None:
        self._fetch = fetch
        self._clock = clock
        self._lock = threading.Lock()
        # (token, valid until) in one tuple, so a reader never pairs one token with another's expiry
        self._cached: tuple[str, float] | None = None

    def get(self) -> str:
        """Return a usable token; when many threads find it stale, exactly one fetches it."""
        value = self._fresh_value()
        if value is not None:
            return value
        with self._lock:
            value = self._fresh_value()
            if value is not None:
                return value
            token = self._fetch()
            valid_until = self._clock() + max(0.0, token.lifetime - REFRESH_MARGIN)
            self._cached = (token.value, valid_until)
            return token.value

    def invalidate(self, rejected: str) -> None:
        """Forget ``rejected`` (I'mport answered 401 to it), unless another thread replaced it."""
        with self._lock:
            if self._cached is not None and self._cached[0] == rejected:
                self._cached = None

    def _fresh_value(self) -> str | None:
        cached = self._cached
        return cached[0] if cached is not None and self._clock() < cached[1] else None
