"""``Idempotency-Key`` on the money-moving POSTs (IETF draft-ietf-httpapi-idempotency-key-header,
and Stripe's behaviour).

A request with a key claims a record in the state store before anything is sent to I'mport.
Its final answer is stored and given again, with ``Idempotent-Replayed: true``, to every retry
with the same key and the same request; the same key with another request is 422, and while
the first is still running, 409 with ``Retry-After``. Records are per caller and kept
``BILLING_IDEMPOTENCY_TTL`` seconds. Answers whose outcome is unknown (202, 5xx) are not
final: a retry runs again, with what the record kept (a cancel's checksum) making that safe.
Requests refused before they ran (400, 403, 413, 415, 422, 429, and a 409 for an order in
flight) leave no record, or leave a resumed attempt's record as it was; a cancel I'mport
refused (422 ``cancel_refused``) ran, and its answer is final.

Each claim that runs the request is an attempt with its own id; only the attempt holding the
record may write it, so an attempt that outlived its lease (taken over by a retry) cannot
overwrite what the retry found.

What a record holds is never card data: the request is kept only as an HMAC of its canonical
form, the caller's key only as an HMAC too, and the answer shows card numbers masked.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from flask import Response, current_app, g, request

from .. import extensions
from ..gateway import IDEMPOTENCY_SEED, SENT_CALLS
from ..state import StateStore, StateUnavailable
from ..state.store import AttemptSuperseded, IdempotencyRecord
from .http_errors import (
    IdempotencyKeyReused,
    InvalidIdempotencyKey,
    RequestInProgress,
    StateUnavailableError,
)

HEADER = "Idempotency-Key"
# 1-255 printable ASCII, no space at either end (HTTP would strip it), bare (no '"' and no ',':
# two headers reach the app joined by ", ") or quoted (no '"' inside). The OpenAPI document
# publishes this very pattern.
_BARE = r"[!#-+\-./-~](?:[ !#-+\-./-~]{0,253}[!#-+\-./-~])?"
_QUOTED = r"[!#-~](?:[ !#-~]{0,253}[!#-~])?"
KEY_PATTERN = f'^(?:{_BARE}|"{_QUOTED}")$'
_KEY = re.compile(f'(?P<bare>{_BARE})|"(?P<quoted>{_QUOTED})"')
REPLAYED_HEADER = "Idempotent-Replayed"
# Refused before the operation ran: nothing to remember, the caller corrects and retries.
_NOT_RUN = frozenset({400, 401, 403, 405, 413, 415, 422, 429})
# 422s that ran: I'mport refused what was sent, a final answer to replay.
_RAN_422 = frozenset({"cancel_refused"})
# A 409 refused before running: another request holds the order (api.locks).
_NOT_RUN_CODES = frozenset({"request_in_progress"})
# The outcome is unknown (202: a charge left pending; every 5xx): the next attempt runs again,
# safely (a charge is looked up by merchant_uid first, a cancel reuses its checksum).
_PENDING = 202

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class Attempt:
    """The current request's record, for the operation to keep what a retry needs."""

    store: StateStore
    name: str
    record: IdempotencyRecord
    # An earlier attempt under this key ran and its outcome was unknown (or its process died).
    resumed: bool = False

    def keep_checksum(self, checksum: int) -> None:
        """Store a cancel's balance before the cancel is sent (StateUnavailable: not sent)."""
        self.record = replace(self.record, checksum=checksum)
        self.store.save(self.name, self.record)


def current_attempt() -> Attempt | None:
    """The record of the current request, when it came with an Idempotency-Key."""
    attempt: Attempt | None = g.get("idempotency")
    return attempt


def idempotent(view: F) -> F:
    """Make the view method honour Idempotency-Key, and record the I'mport calls it sends.

    Goes above the body's parsing and the limits: a replay runs neither, and a body refused by
    its schema releases the record.
    """

    def run(*args: Any, **kwargs: Any) -> Any:
        # What this request sends to I'mport, for errors.py to tell whether its 5xx is safe to
        # retry (with a key it is; without, only if nothing that moves money was sent).
        g.sent_calls = set()
        sent_calls = SENT_CALLS.set(g.sent_calls)
        seed = IDEMPOTENCY_SEED.set(None)
        try:
            presented = _presented_key()
            if presented is None:
                _seed_provider_keys(None)
                return view(*args, **kwargs)
            return _keyed(presented, view, args, kwargs)
        finally:
            IDEMPOTENCY_SEED.reset(seed)
            SENT_CALLS.reset(sent_calls)

    # Its OpenAPI doc (flask-smorest's _apidoc) with it: copied once, nothing per request.
    return functools.update_wrapper(run, view)  # type: ignore[return-value]


def _keyed(presented: str, view: Callable[..., Any], args: Any, kwargs: Any) -> Response:
    billing = extensions.shared()
    store, settings = billing.state, billing.settings
    try:
        name, key = _record_name(store, presented, billing.idempotency_keys)
        fingerprint = _fingerprint(key)
        claim = store.claim(
            name, fingerprint, lease=settings.longest_request, ttl=settings.idempotency_ttl
        )
    except StateUnavailable as exc:
        raise StateUnavailableError() from exc
    if claim.outcome == "mismatch":
        raise IdempotencyKeyReused()
    if claim.outcome == "in_progress":
        raise RequestInProgress(until=claim.record.lease_until)
    if claim.outcome == "replay":
        return _replay(claim.record)
    attempt = Attempt(store, name, claim.record, resumed=claim.outcome == "resume")
    g.idempotency = attempt
    _seed_provider_keys(f"{presented}\n{fingerprint}", key)
    try:
        try:
            response = current_app.make_response(view(*args, **kwargs))
        except Exception as exc:
            handled = current_app.handle_user_exception(exc)  # re-raises a bug (500)
            response = current_app.make_response(handled)
    except Exception:
        _settle(attempt, 500, "")  # a bug: its outcome is unknown, as a 5xx's
        raise
    _settle(attempt, response.status_code, response.get_data(as_text=True))
    return response


def _seed_provider_keys(presented: str | None, key: bytes | None = None) -> None:
    """What the provider's own idempotency keys derive from (PortOne V2 takes them; I'mport
    none): an HMAC of the caller, the caller's key with the request's fingerprint, and the
    request, the same for every retry under that key (and another for another request under
    it, once its record is gone), so a resumed attempt sends PortOne the same keys and gets its
    answers replayed; never the caller's key itself. Without a key, this request's own: the
    order (its merchant_uid, a cancel's balance) is what makes its retry safe. ``key``: the
    fingerprint key the record was made with (default: the current one)."""
    billing = extensions.shared()
    if billing.settings.portone is None:
        return
    claim = presented if presented is not None else f"claim:{uuid.uuid4().hex}"
    caller = g.get("caller", "anonymous")
    request_line = f"{caller}\n{claim}\n{request.method}\n{request.path}"
    IDEMPOTENCY_SEED.set(_hmac(key or billing.idempotency_keys[0], request_line.encode()))


def _record_name(store: StateStore, presented: str, keys: tuple[bytes, ...]) -> tuple[str, bytes]:
    """The record's name and the key it was made with: the current key's, unless only the
    previous key's exists (a retry across a key rotation, for one BILLING_IDEMPOTENCY_TTL)."""
    names = [(f"{g.get('caller', 'anonymous')}:{_hmac(k, presented.encode())}", k) for k in keys]
    if len(names) > 1:
        for name, key in names:
            if store.has_record(name):
                return name, key
    return names[0]


def _settle(attempt: Attempt, status: int, body: str) -> None:
    error_code = g.get("error_code")
    try:
        if (status in _NOT_RUN and error_code not in _RAN_422) or error_code in _NOT_RUN_CODES:
            if attempt.resumed:
                # What an earlier attempt kept (a cancel's checksum) is still needed.
                attempt.store.save(attempt.name, replace(attempt.record, state="retry"))
            else:
                attempt.store.release(attempt.name, attempt.record.attempt)
        elif status == _PENDING or status >= 500:
            attempt.store.save(attempt.name, replace(attempt.record, state="retry"))
        else:
            final = replace(attempt.record, state="done", status=status, body=body)
            attempt.store.save(attempt.name, final)
    except AttemptSuperseded:
        # This attempt outlived its lease and a retry took the key over: what the retry finds
        # and stores stands, and this answer is not stored over it.
        current_app.logger.error(
            "An idempotency record was not settled: its lease had been taken over (status %s)",
            status,
        )
    except StateUnavailable:
        # The answer stands; a retry finds the record in flight until its lease ends, then
        # runs again as a resumed attempt (a charge: looked up by merchant_uid; a cancel: its
        # checksum kept), so nothing can move twice.
        current_app.logger.warning("An idempotency record could not be settled", exc_info=True)


def _replay(record: IdempotencyRecord) -> Response:
    response = current_app.response_class(
        record.body, status=record.status, mimetype="application/json"
    )
    response.headers[REPLAYED_HEADER] = "true"
    g.idempotent_replay = True
    return response


def _presented_key() -> str | None:
    """The request's key: one header, 1-255 printable ASCII, bare (Stripe) or quoted (the
    draft's sf-string); anything else is 400 before anything happens."""
    values = request.headers.getlist(HEADER)
    if not values:
        return None
    if len(values) > 1:
        raise InvalidIdempotencyKey()
    match = _KEY.fullmatch(values[0])
    if match is None:
        raise InvalidIdempotencyKey()
    return match["bare"] or match["quoted"]


def _fingerprint(key: bytes) -> str:
    """An HMAC of what makes the request what it is: method, path, the precondition header and
    the canonical body (JSON with sorted keys; a form's fields sorted)."""
    parts = [request.method, request.path, request.headers.get("If-None-Match", "")]
    if request.is_json:
        try:
            parts.append(json.dumps(request.get_json(), sort_keys=True, separators=(",", ":")))
        except Exception:  # an unreadable body: refused by the operation all the same
            parts.append(request.get_data(as_text=True))
    else:
        parts.append(json.dumps(sorted(request.form.items(multi=True))))
    return _hmac(key, "\n".join(parts).encode("utf-8", "surrogateescape"))


def _hmac(key: bytes, data: bytes) -> str:
    return hmac.new(key, data, hashlib.sha256).hexdigest()
