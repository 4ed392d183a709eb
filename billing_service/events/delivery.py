"""The event consumer: one thread per process sending the outbox's due deliveries.

Each delivery is a POST of the event's JSON, signed at send time (Standard Webhooks: the
``webhook-id`` is the event's, the same on every retry; ``webhook-timestamp`` is this
attempt's), through one pool of connections per process, never retried nor redirected by
urllib3: a 2xx is delivered; anything else (3xx, 4xx, 5xx, no connection, no answer in time)
is retried after ``delays[attempts]`` while delays remain, then the delivery is ``failed`` (it
stays, and ``redeliver`` sends it again); 410 Gone gives up at once.

Every ``PRUNE_EVERY_S`` the consumer prunes the delivered and failed deliveries past the
outbox's retention, so the outbox does not grow without bound.

A claim leases its deliveries: a process that dies mid-attempt records nothing, and another
sends them when the lease ends (at least once: subscribers drop repeats by ``webhook-id``).
Only ids, event types, statuses and subscribers' hosts are logged, never a body nor the secret.

One attempt's ``timeout`` bounds it whole (``deadline``): resolving the subscriber's name, and
reading its status line, headers and answer, however slowly it trickles them; the consumer then
goes on with the next delivery.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from urllib.parse import urlsplit

import certifi
import urllib3
from standardwebhooks import Webhook
from urllib3.exceptions import HTTPError, NewConnectionError
from urllib3.exceptions import TimeoutError as TransportTimeout

from ..deadline import DEADLINE, POOL_CLASSES
from ..state.embedded import BUSY_TIMEOUT_S
from ..state.store import StateUnavailable
from .outbox import DELIVERY, PRUNE_BATCH, Delivery, Outbox

logger = logging.getLogger(__name__)

# The most the consumer sleeps between looks at the outbox, when nothing is due sooner.
MAX_SLEEP_S = 1.0
# The pause after the outbox failed (StateUnavailable), before it is tried again.
PAUSE_AFTER_FAILURE_S = 1.0
# The longest one attempt may last (Standard Webhooks: a 15-30 s request timeout).
MAX_TIMEOUT_S = 15.0
# The most deliveries one claim takes.
MAX_BATCH = 16
# How often each consumer prunes the deliveries past their retention (at once again while a
# prune finds a full batch). Listings leave them out already: this bounds the outbox's size.
PRUNE_EVERY_S = 5.0
# The most of a subscriber's answer read (it is not used), so the connection can be reused.
_MAX_ANSWER_BYTES = 64 * 1024
_SECRET_MESSAGE = "The event secret must be whsec_ followed by the base64 of 24 to 64 random bytes."


def check_secret(secret: str) -> None:
    """Raise ValueError (a fixed message, without the secret) unless ``secret`` is a Standard
    Webhooks secret: ``whsec_`` + base64 of 24 to 64 bytes."""
    if not isinstance(secret, str) or not secret.startswith("whsec_"):
        raise ValueError(_SECRET_MESSAGE)
    encoded = secret.removeprefix("whsec_")
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(_SECRET_MESSAGE) from None
    if not 24 <= len(key) <= 64:
        raise ValueError(_SECRET_MESSAGE)


class EventConsumer:
    """Sends ``outbox``'s due deliveries from one daemon thread (``start``, ``stop``).

    ``delays``: the wait after each failed attempt (the first attempt is immediate), so a
    delivery is attempted at most ``len(delays) + 1`` times. ``lease_seconds``: how long a
    claim holds its deliveries; longer than ``timeout``, the most one attempt lasts (≤ 15 s).
    ``handlers``: a job (a row whose kind is not ``DELIVERY``) is given to the handler of its
    kind, which answers True (done) or False (not yet: retried like a failed attempt).
    ``on_outcome`` is told "delivered", "retry" or "failed" after each recorded attempt.
    """

    def __init__(
        self,
        outbox: Outbox,
        *,
        secret: str | None,
        delays: Sequence[float],
        lease_seconds: float,
        timeout: float = MAX_TIMEOUT_S,
        on_outcome: Callable[[str], None] | None = None,
        handlers: Mapping[str, Callable[[Delivery], bool]] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if secret is not None:
            check_secret(secret)
        if not 0 < timeout <= MAX_TIMEOUT_S:
            raise ValueError(f"The event timeout must be above 0 and at most {MAX_TIMEOUT_S} s.")
        if lease_seconds <= timeout:
            raise ValueError("The event lease must be longer than one attempt's timeout.")
        if any(delay < 0 for delay in delays):
            raise ValueError("The event retry delays cannot be negative.")
        self._outbox = outbox
        self._webhook = Webhook(secret) if secret is not None else None
        self._delays = tuple(float(delay) for delay in delays)
        self._lease = float(lease_seconds)
        self._timeout = float(timeout)
        self._on_outcome = on_outcome
        self._handlers = dict(handlers or {})
        self._clock = clock
        # As many as can all be attempted, each taking the longest, before their lease ends.
        self._batch = max(1, min(MAX_BATCH, int(self._lease // self._timeout) - 1))
        self._wakeup = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._beat = time.monotonic()
        self._prune_at = 0.0  # time.monotonic

    @property
    def started(self) -> bool:
        """Whether ``start`` was called (and ``stop`` not since)."""
        return self._thread is not None and not self._stopping.is_set()

    def start(self) -> None:
        """Start the thread (in the process that will run it: after a fork, never before)."""
        if self._thread is not None and self._thread.is_alive() and not self._stopping.is_set():
            return
        self._stopping.clear()
        self._beat = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="event-consumer", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Look at the outbox now (an event was just added)."""
        self._wakeup.set()

    def stop(self, timeout: float | None = None) -> None:
        """End the thread, after the attempt in flight; wait for it at most ``timeout`` s."""
        self._stopping.set()
        self._wakeup.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def alive(self) -> bool:
        """Whether the thread runs and has come round its loop recently."""
        thread = self._thread
        if thread is None or not thread.is_alive() or self._stopping.is_set():
            return False
        # Between two beats: a claim, one attempt and its record (each store call within the
        # embedded store's busy timeout, Redis's within 1 s), or a sleep.
        stalled_after = 3 * MAX_SLEEP_S + self._timeout + 2 * BUSY_TIMEOUT_S
        return time.monotonic() - self._beat < stalled_after

    # the thread

    def _run(self) -> None:
        logger.info("The event consumer started")
        while not self._stopping.is_set():
            self._beat = time.monotonic()
            self._wakeup.clear()  # a wake() from here on ends the sleep below
            if self._beat >= self._prune_at:
                self._prune()
            try:
                claimed = self._outbox.claim(self._batch, self._lease)
            except StateUnavailable:
                logger.warning("The outbox cannot be read: retrying shortly", exc_info=True)
                self._stopping.wait(PAUSE_AFTER_FAILURE_S)
                continue
            except Exception:
                logger.exception("The outbox failed: retrying shortly")
                self._stopping.wait(PAUSE_AFTER_FAILURE_S)
                continue
            self._beat = time.monotonic()
            self._attempt_all(claimed)
            if len(claimed) < self._batch:
                self._sleep()
        logger.info("The event consumer stopped")

    def _prune(self) -> None:
        try:
            full = self._outbox.prune() >= PRUNE_BATCH
        except Exception:  # the outbox is down: claims say so too, and the prune waits
            logger.warning("The outbox could not be pruned: retrying shortly", exc_info=True)
            full = False
        self._prune_at = time.monotonic() + (0.0 if full else PRUNE_EVERY_S)

    def _attempt_all(self, claimed: list[Delivery]) -> None:
        lease_ends = time.monotonic() + self._lease
        for delivery in claimed:
            # Never begin an attempt that could outlast its lease (another consumer may take
            # the delivery then); what is left is due again when the lease ends.
            if self._stopping.is_set() or time.monotonic() + self._timeout >= lease_ends:
                return
            self._attempt(delivery)
            self._beat = time.monotonic()

    def _sleep(self) -> None:
        try:
            due = self._outbox.next_due()
        except Exception:
            logger.warning("The outbox cannot be read: retrying shortly", exc_info=True)
            due = None
        wait = MAX_SLEEP_S if due is None else min(MAX_SLEEP_S, max(0.0, due - self._clock()))
        if wait > 0:
            self._wakeup.wait(wait)

    def _attempt(self, d: Delivery) -> None:
        try:
            error = self._send(d)
        except Exception:
            logger.exception("The delivery of event %s to %s failed", d.event_id, _to(d))
            error = "error"
        try:
            if error is None:
                self._outbox.delivered(d)
                outcome = "delivered"
            elif error != "HTTP 410" and d.attempts < len(self._delays):
                self._outbox.retry_at(d, self._clock() + self._delays[d.attempts], error)
                outcome = "retry"
            else:
                self._outbox.give_up(d, error)
                outcome = "failed"
        except StateUnavailable:
            # Recorded by nobody: the delivery is due again when its lease ends.
            logger.warning(
                "The outcome of event %s could not be recorded", d.event_id, exc_info=True
            )
            return
        log = logger.warning if outcome == "failed" else logger.info
        log(
            "event %s (%s) to %s, attempt %d: %s%s",
            d.event_id,
            d.event_type,
            _to(d),
            d.attempts + 1,
            outcome,
            f" ({error})" if error else "",
        )
        if self._on_outcome is not None:
            try:
                self._on_outcome(outcome)
            except Exception:
                logger.exception("The event outcome observer failed")

    def _send(self, d: Delivery) -> str | None:
        """Attempt ``d``: None if it is done, else a short fixed text saying why not."""
        if d.kind != DELIVERY:
            handler = self._handlers.get(d.kind)
            if handler is None:  # a job of a kind this process does not run
                return "no handler"
            return None if handler(d) else "not done yet"
        if self._webhook is None:
            return "no event secret"
        # Signed now: the timestamp is this attempt's (receivers allow ±5 min); UTC, whole
        # seconds, the same in the signature and the header.
        now = datetime.now(UTC).replace(microsecond=0)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "billing-service",
            "webhook-id": d.event_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": self._webhook.sign(d.event_id, now, d.body.decode()),
        }
        deadline_set = DEADLINE.set(time.monotonic() + self._timeout)
        try:
            return _post(d.url, d.body, headers, self._timeout)
        finally:
            DEADLINE.reset(deadline_set)


def _post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> str | None:
    """POST ``body``: None if a 2xx came back, else a short fixed text saying why not."""
    try:
        resp = _pool().request(
            "POST",
            url,
            body=body,
            headers=headers,
            timeout=urllib3.Timeout(total=timeout),
            retries=False,
            redirect=False,
            preload_content=False,
        )
    except NewConnectionError:  # refused, unreachable (a ConnectTimeoutError, for urllib3)
        return "connection failed"
    except TransportTimeout:
        return "timeout"
    except HTTPError:
        return "connection error"
    try:
        resp.read(_MAX_ANSWER_BYTES)
    except TransportTimeout:
        return "timeout"
    except HTTPError:
        pass  # the status is what counts
    finally:
        if resp.closed:  # read to its end: the connection is reused
            resp.release_conn()
        else:
            resp.close()  # a longer (or broken) answer: not worth reading
    return None if 200 <= resp.status < 300 else f"HTTP {resp.status}"


def _to(d: Delivery) -> str:
    """Where ``d`` goes, as logged: its subscriber, or the handler of its job's kind."""
    return _where(d.url) if d.kind == DELIVERY else f"the {d.kind} handler"


def _where(url: str) -> str:
    """The subscriber's scheme, host and port: what is logged of its URL (whose path or query
    may hold a token)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}{':' + str(parts.port) if parts.port else ''}"


# One pool manager per process: a forked worker must not share its parent's sockets. Two
# threads that both find none make one each and the last stays (no lock to cross a fork).
_POOL: tuple[int, urllib3.PoolManager] | None = None


def _pool() -> urllib3.PoolManager:
    global _POOL
    current = _POOL
    if current is None or current[0] != os.getpid():
        manager = urllib3.PoolManager(
            num_pools=16, maxsize=2, block=False, retries=False, ca_certs=certifi.where()
        )
        manager.pool_classes_by_scheme = POOL_CLASSES  # they connect and read by DEADLINE
        current = _POOL = (os.getpid(), manager)
    return current[1]
