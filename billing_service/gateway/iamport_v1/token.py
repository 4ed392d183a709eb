"""A per-process cache of the I'mport access token, refreshed by one thread at a time."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from ..exceptions import GatewayError


@dataclass(frozen=True)
class AccessToken:
    """An I'mport access token and how many seconds it has left, by I'mport's own clock."""

    value: str = field(repr=False)
    lifetime: int


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
        self._fetches = 0  # fetches finished, successful or not
        self._last_failure: GatewayError | None = None

    def get(self) -> str:
        """Return a usable token; when many threads find it stale, exactly one fetches it.

        Threads that waited on a fetch that failed get its failure at once rather than each
        trying again in turn (with an unreachable I'mport, each try can last a whole timeout).
        """
        value = self._fresh_value()
        if value is not None:
            return value
        fetches_seen = self._fetches
        with self._lock:
            value = self._fresh_value()
            if value is not None:
                return value
            failure = self._last_failure
            if failure is not None and self._fetches != fetches_seen:
                raise type(failure)(
                    failure.message, http_status=failure.http_status, code=failure.code
                ) from failure
            try:
                token = self._fetch()
            except GatewayError as exc:
                self._last_failure = exc
                raise
            finally:
                self._fetches += 1
            self._last_failure = None
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
