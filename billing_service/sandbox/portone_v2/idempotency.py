"""`Idempotency-Key` on POST/PUT/PATCH/DELETE: a finished request's answer is replayed, one
still running answers 409 IDEMPOTENCY_OUTSTANDING_REQUEST, answers are kept 3 hours.

The key is an RFC 8941 string (`"..."`, 16 to 256 ASCII characters; a UUID is advised). What a
key reused for another request gets is not documented: the `idempotency_mismatch` switch
chooses between a 400 and the stored answer.
"""

from __future__ import annotations

import dataclasses
import json
import re
import threading
from typing import Any

from ..clock import Clock
from ..wire import Reply, Request

KEEP_SECONDS = 3 * 3600
HEADER = "idempotency-key"
_SF_STRING = re.compile(r'"((?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\["\\])*)"')
MIN_LENGTH, MAX_LENGTH = 16, 256

RUN, REPLAY, OUTSTANDING, MISMATCH = "run", "replay", "outstanding", "mismatch"


def parse_key(value: str) -> str | None:
    """The key inside an RFC 8941 string header value; None when malformed."""
    match = _SF_STRING.fullmatch(value.strip())
    if match is None:
        return None
    key = re.sub(r"\\(.)", r"\1", match[1])
    return key if MIN_LENGTH <= len(key) <= MAX_LENGTH else None


def fingerprint(req: Request) -> str:
    """What makes two requests "the same request": method, path, query and body."""
    return json.dumps(
        [req.method, req.path, sorted(req.query.items()), req.body],
        sort_keys=True,
        ensure_ascii=False,
    )


@dataclasses.dataclass
class _Entry:
    fingerprint: str
    reply: Reply | None  # None while the first request runs
    expires: float = 0.0


class Idempotency:
    """The keys seen in the last 3 hours (sandbox clock), under one lock."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[str, _Entry] = {}

    def reset(self) -> None:
        with self._lock:
            self._entries.clear()

    def begin(self, key: str, print_: str) -> tuple[str, Reply | None]:
        """(RUN, None): go on and `finish`; (REPLAY, the answer); (OUTSTANDING, None);
        (MISMATCH, the answer stored for the other request, or None while it runs)."""
        now = self._clock.precise_now()
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry.reply is not None and entry.expires <= now:
                entry = None
            if entry is None:
                self._entries[key] = _Entry(print_, None)
                return RUN, None
            if entry.fingerprint != print_:
                return MISMATCH, entry.reply
            if entry.reply is None:
                return OUTSTANDING, None
            return REPLAY, entry.reply

    def finish(self, key: str, reply: Reply | None) -> None:
        """Store the answer (None: nothing was done, the key is free again)."""
        with self._lock:
            if reply is None:
                self._entries.pop(key, None)
                return
            entry = self._entries.get(key)
            if entry is not None:
                entry.reply = reply
                entry.expires = self._clock.precise_now() + KEEP_SECONDS

    def snapshot(self) -> list[dict[str, Any]]:
        """`[{"key", "status"}]`: the keys held, with their answer's status (None: running)."""
        with self._lock:
            return [
                {"key": key, "status": entry.reply.status if entry.reply else None}
                for key, entry in self._entries.items()
            ]
