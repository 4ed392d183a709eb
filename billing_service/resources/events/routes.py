"""Event endpoints: list deliveries (the failed ones first of all), re-send a failed one."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from flask.views import MethodView

from ...api.blueprint import CALLER_ERRORS, Blueprint
from ...api.http_errors import EventNotFound
from ...api.publisher import event_publisher
from ...events.outbox import DELIVERY, EventRecord
from ...security.callers import owns, requires
from .examples import EVENT_LIST_EXAMPLE, REDELIVERED_EXAMPLE
from .schemas import EventListSchema, EventQuerySchema, RedeliveredSchema

blp = Blueprint(
    "events",
    __name__,
    url_prefix="/events",
    description="Signed events to your services (Standard Webhooks): deliveries that exhausted "
    "their retries are kept here, to be re-sent.",
)


@blp.route("")
class Events(MethodView):
    @requires("events")
    @blp.doc(operationId="listEvents")
    @blp.arguments(EventQuerySchema(), location="query")
    @blp.response(200, EventListSchema, example=EVENT_LIST_EXAMPLE)
    @blp.errors(*CALLER_ERRORS, "invalid_request", "state_unavailable", "internal_error")
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """List event deliveries

        The latest 100 deliveries, optionally only `pending`, `delivered` or `failed` (retries
        exhausted: re-send them with `POST /events/{event_id}/redeliver`). Scope `events`; a
        caller with a `prefix=` rule sees only the events about its own customers. Subscriber
        URLs are shown without their user info and query (they may hold credentials).
        """
        records = event_publisher().outbox.records(args.get("status"), keep=_listed)
        return {"events": [_record(r) for r in records]}


@blp.route("/<id:event_id>/redeliver")
class Redelivery(MethodView):
    @requires("events")
    @blp.doc(operationId="redeliverEvent")
    @blp.response(200, RedeliveredSchema, example=REDELIVERED_EXAMPLE)
    @blp.errors(*CALLER_ERRORS, "event_not_found", "state_unavailable", "internal_error")
    @blp.long_request_line
    def post(self, event_id: str) -> dict[str, Any]:
        """Re-send an event whose delivery failed

        Its failed deliveries are queued again, due now, with their retries reset; the event
        keeps its `webhook-id`. Scope `events`; a caller with a `prefix=` rule may re-send
        only the events about its own customers (404 `event_not_found` for any other).
        """
        events = event_publisher()
        if not owns(events.outbox.customer_of(event_id)):
            raise EventNotFound()
        redelivered = events.outbox.redeliver(event_id)
        if not redelivered:
            raise EventNotFound()
        if events.consumer is not None:
            events.consumer.wake()
        return {"redelivered": redelivered}


def _listed(record: EventRecord) -> bool:
    # The outbox also holds the service's own jobs (notices to verify, schedules and charges to
    # look up): not deliveries to anyone.
    return record.kind == DELIVERY and owns(record.customer_uid)


def _public_url(url: str) -> str:
    """``url`` without user info, query or fragment: a subscriber's credentials live there."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "", ""))


def _record(record: EventRecord) -> dict[str, Any]:
    def at(seconds: float | None) -> datetime | None:
        return None if seconds is None else datetime.fromtimestamp(seconds, UTC)

    return {
        "event_id": record.event_id,
        "url": _public_url(record.url),
        "event_type": record.event_type,
        "status": record.status,
        "attempts": record.attempts,
        "created_at": at(record.created_at),
        "next_attempt_at": at(record.next_attempt_at),
        "delivered_at": at(record.delivered_at),
        "last_error": record.last_error,
    }
