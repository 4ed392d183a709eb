"""PortOne V2 webhooks (version `2024-04-25`), signed as Standard Webhooks, from one sender
thread.

A webhook is `{"type", "timestamp", "data"}` POSTed as JSON to each of the `noticeUrls` given
with the payment or key, else to the console URL (`webhook_url`). Headers: `webhook-id` (the
same on every retry and resend), `webhook-timestamp` (UNIX seconds of the wall clock at the
attempt: receivers check it against theirs, 5 minutes either way) and `webhook-signature`
(`v1,<base64 HMAC-SHA256>` of `{id}.{timestamp}.{body}` under each secret, space-separated).
The body's `timestamp` is the event's time on the sandbox clock, the same on every attempt.

A failed attempt (no 2xx, no answer) is retried after 1, 4, 16, 64 then 256 minutes on the
sandbox clock (PortOne's backoff, without its jitter): five retries, then it gives up. Handlers
only queue: a charge never waits on a receiver. Every attempt is recorded (ids only: a webhook
never carries card data).
"""

from __future__ import annotations

import base64
import dataclasses
import json
import secrets
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from standardwebhooks.webhooks import Webhook

from ..sender import Sender
from .state import V2State
from .wire import rfc3339

USER_AGENT = "portone-v2-sandbox-webhook"
BACKOFF_MINUTES = (1, 4, 16, 64, 256)  # before retry 1..5
DISORDER_WINDOW = 0.3  # seconds the sender gathers due webhooks before sending them reordered
MAX_SLEEP = 60.0  # the sender re-reads the clock at least this often
RECORD_LIMIT = 10_000
STALE_SECONDS = 600  # a forged `stale` signature's age: beyond the receivers' 5 minutes
SIGNATURES = ("valid", "wrong", "none", "stale")
SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    """A Standard Webhooks secret: `whsec_` + base64 of 24 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def check_secret(secret: str) -> str | None:
    """Why `secret` (comma-separated secrets) cannot sign, or None."""
    for part in secret.split(","):
        encoded = part.strip().removeprefix(SECRET_PREFIX)
        try:
            key = base64.b64decode(encoded, validate=True)
        except ValueError:
            key = b""
        if not part.strip().startswith(SECRET_PREFIX) or not key:
            return "each secret must be whsec_ followed by base64 (the console's format)"
    return None


@dataclasses.dataclass
class _Webhook:
    id: str
    url: str
    payload: str  # the raw JSON body, exactly as signed
    type: str
    payment_id: str | None = None  # a Transaction.* webhook's payment
    payment_status: str | None = None  # the payment's status it announced
    triggered_at: str | None = None
    attempts: int = 0
    retries: int = 0  # PortOne's retries queued so far (resends and duplicates are not)
    status: int | None = None  # the receiver's answer to the latest attempt (None: none)


@dataclasses.dataclass(frozen=True)
class _Job:
    at: float  # sandbox time it is due
    seq: int
    webhook_id: str
    generation: int  # a reset drops the jobs queued before it
    retry: bool  # a failure queues the next retry (not for resends, forgeries and duplicates)
    signature: str = "valid"  # one of SIGNATURES


class Webhooks(Sender):
    """The webhooks sent, the jobs due, the record of attempts, and the sender thread."""

    def __init__(self, state: V2State, secret: str) -> None:
        super().__init__()
        self._state = state
        self._signers = [Webhook(part.strip()) for part in secret.split(",")]
        self.secret = secret
        self._webhooks: dict[str, _Webhook] = {}
        self._jobs: list[_Job] = []
        self._records: list[dict[str, Any]] = []
        self._seq = 0

    # --- lifecycle (start, close, wait: `Sender`) ---

    def reset(self) -> None:
        with self._cond:
            self._generation += 1
            self._webhooks.clear()
            self._jobs.clear()
            self._records.clear()
            self._attempted = 0
            self._cond.notify_all()

    def wake(self) -> None:
        """The clock moved: retries may be due."""
        with self._cond:
            self._cond.notify_all()

    # --- queueing ---

    def emit(
        self,
        kind: str,
        data: dict[str, str],
        notice_urls: list[str] | None,
        payment_status: str | None = None,
    ) -> list[str]:
        """Queue a webhook of `kind` to each noticeUrl, else the console URL; their ids."""
        urls = notice_urls or ([self._state.config.webhook_url or ""])
        stamp = rfc3339(self._state.now())
        body = {"type": kind, "timestamp": stamp, "data": data}
        payload = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
        about = _Webhook("", "", payload, kind, data.get("paymentId"), payment_status, stamp)
        return [self._add(dataclasses.replace(about, url=url)) for url in urls if url]

    def forge(
        self,
        url: str,
        payload: str,
        kind: str,
        webhook_id: str | None = None,
        retry: bool = False,
        signature: str = "valid",
    ) -> str:
        """Queue a forged webhook (retried on failure only with `retry`) now; its id."""
        return self._add(_Webhook(webhook_id or "", url, payload, kind), retry, signature)

    def _add(self, webhook: _Webhook, retry: bool = True, signature: str = "valid") -> str:
        webhook.id = webhook.id or f"msg_{uuid.uuid4().hex}"
        with self._cond:
            self._webhooks[webhook.id] = webhook
            self._add_job(webhook.id, self._state.precise_now(), retry, signature)
        return webhook.id

    def resend(self, webhook_id: str, times: int, signature: str = "valid") -> bool:
        """Send a webhook again `times` times, same id and body; False when unknown."""
        with self._cond:
            if webhook_id not in self._webhooks:
                return False
            for _ in range(times):
                self._add_job(
                    webhook_id, self._state.precise_now(), retry=False, signature=signature
                )
            return True

    def _add_job(
        self, webhook_id: str, at: float, retry: bool = True, signature: str = "valid"
    ) -> None:
        self._seq += 1
        self._jobs.append(_Job(at, self._seq, webhook_id, self._generation, retry, signature))
        self._cond.notify_all()

    # --- reading ---

    def of_payment(self, payment_id: str) -> list[dict[str, Any]]:
        """The payment's webhooks as `Payment.webhooks[]` shows them (PaymentWebhook), oldest
        first."""
        with self._cond:
            return [
                _payment_webhook(webhook)
                for webhook in self._webhooks.values()
                if webhook.payment_id == payment_id
            ]

    def snapshot(self) -> list[dict[str, Any]]:
        with self._cond:
            return [_copy(record) for record in self._records]

    # --- the sender thread ---

    def _take_due(self) -> list[_Job]:
        now = self._state.precise_now()
        due = sorted(
            (job for job in self._jobs if job.at <= now), key=lambda job: (job.at, job.seq)
        )
        self._jobs = [job for job in self._jobs if job.at > now]
        return due

    def _sleep_for(self) -> float:
        if not self._jobs:
            return MAX_SLEEP
        wait = min(job.at for job in self._jobs) - self._state.precise_now()
        return min(MAX_SLEEP, max(0.0, wait) + 0.001)

    def _run(self) -> None:
        while True:
            with self._cond:
                due = self._take_due()
                while not due and not self._closed:
                    self._cond.wait(self._sleep_for())
                    due = self._take_due()
                if self._closed:
                    return
                if self._state.config.webhook_disorder:
                    self._cond.wait_for(lambda: self._closed, DISORDER_WINDOW)
                    due += self._take_due()
                    # Newest first, each twice: the copy never retries.
                    due = [
                        copy
                        for job in reversed(due)
                        for copy in (job, dataclasses.replace(job, retry=False))
                    ]
            for job in due:
                self._attempt(job)

    def _attempt(self, job: _Job) -> None:
        with self._cond:
            webhook = self._webhooks.get(job.webhook_id)
            if webhook is None or job.generation != self._generation or self._closed:
                return
            webhook.attempts += 1
            number = webhook.attempts
        sent_at = self._state.now()
        headers = self._headers(webhook, job.signature)
        status = self._send(webhook, headers)
        with self._cond:
            if job.generation != self._generation:
                return  # reset while it was being sent
            record = {
                "webhook_id": webhook.id,
                "url": webhook.url,
                "type": webhook.type,
                "payload": webhook.payload,
                # The webhook-* headers as sent: a test can replay the attempt to an app
                # that is not listening on a socket (a Flask test client).
                "headers": {k: v for k, v in headers.items() if k.startswith("webhook-")},
                "signature": job.signature,
                "attempt": number,
                "status": status,
                "sent_at": sent_at,
            }
            self._records.append(record)
            del self._records[:-RECORD_LIMIT]
            self._attempted += 1
            webhook.status = status
            failed = status is None or not 200 <= status < 300
            if job.retry and failed and webhook.retries < len(BACKOFF_MINUTES):
                at = self._state.precise_now() + BACKOFF_MINUTES[webhook.retries] * 60
                webhook.retries += 1
                self._add_job(webhook.id, at)
            self._cond.notify_all()

    def _headers(self, webhook: _Webhook, signature: str) -> dict[str, str]:
        stamp = int(time.time()) - (STALE_SECONDS if signature == "stale" else 0)
        moment = datetime.fromtimestamp(stamp, UTC)
        signers = [Webhook(new_secret())] if signature == "wrong" else self._signers
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "Connection": "close",
            "webhook-id": webhook.id,
            "webhook-timestamp": str(stamp),
        }
        if signature != "none":
            headers["webhook-signature"] = " ".join(
                signer.sign(webhook.id, moment, webhook.payload) for signer in signers
            )
        return headers

    def _send(self, webhook: _Webhook, headers: dict[str, str]) -> int | None:
        """POST once; the receiver's HTTP status, or None on any error."""
        timeout = self._state.config.webhook_timeout_ms / 1000 or None
        return self._post(webhook.url, webhook.payload.encode(), headers, timeout, timeout)


def _copy(record: dict[str, Any]) -> dict[str, Any]:
    return {**record, "headers": dict(record["headers"])}


def _payment_webhook(webhook: _Webhook) -> dict[str, Any]:
    """A PaymentWebhook: its id, URL, what it announced, how its delivery went."""
    found: dict[str, Any] = {
        "id": webhook.id,
        "url": webhook.url,
        "isAsync": False,
        "currentExecutionCount": webhook.attempts,
        "maxExecutionCount": 1 + len(BACKOFF_MINUTES),
    }
    if webhook.payment_status is not None:
        found["paymentStatus"] = webhook.payment_status
    if webhook.triggered_at is not None:
        found["triggeredAt"] = webhook.triggered_at
    if webhook.attempts:
        status = webhook.status
        found["status"] = (
            "FAILED_UNEXPECTED_ERROR"
            if status is None
            else "SUCCEEDED"
            if 200 <= status < 300
            else "FAILED_NOT_OK_RESPONSE"
        )
    return found
