"""An order is its own lock: a charge holds its ``merchant_uid``, a cancel its ``imp_uid``.

Taken in the state store for the whole request, with or without an Idempotency-Key and whoever
the caller, so that two requests for one order never reach I'mport together: the second is
answered 409 ``request_in_progress`` with ``Retry-After``, and nothing of it is sent. The lock
has a lease as long as the longest request (a process that dies cannot hold it for ever) and
is freed when the request ends. A store that cannot be used refuses the request (503
``state_unavailable``) before anything is sent: the store is a precondition of moving money.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from .. import extensions
from ..state import StateUnavailable
from .http_errors import RequestInProgress, StateUnavailableError

logger = logging.getLogger(__name__)


def order(merchant_uid: str) -> str:
    """The lock of the order a charge or a schedule uses."""
    return f"order:{merchant_uid}"


def customer(customer_uid: str) -> str:
    """The lock of a customer_uid being issued a key (PortOne V2: issuing makes a new key, and
    the ones it replaced are deleted after)."""
    return f"customer:{customer_uid}"


def payment(imp_uid: str) -> str:
    """The lock of a payment being cancelled."""
    return f"payment:{imp_uid}"


@contextmanager
def held(*locks: str) -> Iterator[None]:
    """Hold every one of ``locks`` for the block, or refuse the request (409, 503)."""
    billing, owner = extensions.shared(), uuid.uuid4().hex
    store, lease = billing.state, billing.settings.longest_request
    taken: list[str] = []
    try:
        for lock in locks:
            try:
                busy_until = store.lock(lock, owner, lease)
            except StateUnavailable as exc:
                logger.warning("An order lock could not be taken: %s", exc, exc_info=True)
                raise StateUnavailableError() from exc
            if busy_until is not None:
                raise RequestInProgress(until=busy_until)
            taken.append(lock)
        yield
    finally:
        for lock in taken:
            try:
                store.unlock(lock, owner)
            except StateUnavailable:
                # Its lease frees it: the order waits until then, and nothing runs twice.
                logger.warning("An order lock could not be freed", exc_info=True)
