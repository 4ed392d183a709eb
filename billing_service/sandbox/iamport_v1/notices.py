"""Webhook notices as I'mport V1 sends them, from one background sender thread.

A notice is `{"imp_uid", "merchant_uid", "status"}` (+ `cancellation_id` for a cancel), POSTed
once as JSON or as a form to the payment's `notice_url`, else to the configured webhook URL.
Handlers only queue a notice: a charge never waits on the receiver. Every attempt is recorded
(ids and a status only: a notice never carries card data), so tests can look at them, wait for
them, resend (duplicate) them, or send forged ones.
"""

from __future__ import annotations

import collections
import dataclasses
import json
from typing import Any
from urllib.parse import urlencode

from ..sender import Sender
from .state import SandboxState

USER_AGENT = "iamport-sandbox-webhook"
RECORD_LIMIT = 10_000  # keep memory flat; ids keep counting


@dataclasses.dataclass(frozen=True)
class _Job:
    generation: int  # a reset drops the jobs queued before it
    url: str
    format: str
    body: dict[str, str]


class Notices(Sender):
    """The queue of notices to send, the record of those attempted, and the sender thread."""

    def __init__(self, state: SandboxState) -> None:
        super().__init__()
        self._state = state
        self._queue: collections.deque[_Job] = collections.deque()
        self._records: collections.deque[dict[str, Any]] = collections.deque(maxlen=RECORD_LIMIT)
        self._next_id = 1

    # --- lifecycle (start, close, wait: `Sender`) ---

    def reset(self) -> None:
        """Forget the record and drop what is queued (a delivery in progress is not recorded)."""
        with self._cond:
            self._generation += 1
            self._queue.clear()
            self._records.clear()
            self._attempted = 0
            self._next_id = 1
            self._cond.notify_all()

    # --- queueing ---

    def notify(self, notice_url: str | None, body: dict[str, str]) -> bool:
        """Queue one notice to `notice_url`, else the webhook URL; False when there is neither.

        The format is the configured one at the time of the event, like the console setting.
        """
        config = self._state.config
        url = notice_url or config.webhook_url
        if not url:
            return False
        self.enqueue(url, config.webhook_format, body, 1)
        return True

    def enqueue(self, url: str, format: str, body: dict[str, str], times: int) -> None:
        with self._cond:
            job = _Job(self._generation, url, format, dict(body))
            self._queue.extend([job] * times)
            self._cond.notify_all()

    # --- reading ---

    def snapshot(self) -> list[dict[str, Any]]:
        with self._cond:
            return [_copy(record) for record in self._records]

    def get(self, notice_id: int) -> dict[str, Any] | None:
        with self._cond:
            for record in self._records:
                if record["id"] == notice_id:
                    return _copy(record)
            return None

    # --- the sender thread ---

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._queue or self._closed)
                if self._closed:
                    return
                job = self._queue.popleft()
            sent_at = self._state.now()
            status = self._send(job)
            with self._cond:
                if job.generation != self._generation:
                    continue  # reset while it was being sent
                self._records.append(
                    {
                        "id": self._next_id,
                        "url": job.url,
                        "format": job.format,
                        "body": dict(job.body),
                        "status": status,
                        "sent_at": sent_at,
                    }
                )
                self._next_id += 1
                self._attempted += 1
                self._cond.notify_all()

    def _send(self, job: _Job) -> int | None:
        """POST the notice once (no retry); the receiver's HTTP status, or None on any error."""
        config = self._state.config
        if job.format == "form":
            payload = urlencode(job.body).encode()
            content_type = "application/x-www-form-urlencoded"
        else:
            payload = json.dumps(job.body, ensure_ascii=False).encode()
            content_type = "application/json"
        connect_timeout = config.webhook_connect_timeout_ms / 1000 or None
        read_timeout = config.webhook_read_timeout_ms / 1000 or None
        headers = {"Content-Type": content_type, "User-Agent": USER_AGENT, "Connection": "close"}
        return self._post(job.url, payload, headers, connect_timeout, read_timeout)


def _copy(record: dict[str, Any]) -> dict[str, Any]:
    return {**record, "body": dict(record["body"])}
