"""Event endpoints: list deliveries (the failed ones first of all), re-send a failed one."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask.views import MethodView

from ...api.blueprint import CALLER_ERRORS, Blueprint
from ...api.events import payment_events
from ...api.http_errors import EventNotFound
from ...security.callers import require_caller, requires
from .schemas import EventListSchema, EventQuerySchema, RedeliveredSchema

blp = Blueprint(
    "events",
    __name__,
    url_prefix="/events",
    description="Signed events to your services (Standard Webhooks): deliveries that exhausted "
    "their retries are kept here, to be re-sent.",
)
blp.before_request(require_caller)


@blp.route("")
class Events(MethodView):
    @blp.doc(operationId="listEvents")
    @blp.arguments(EventQuerySchema(), location="query")
    @blp.response(200, EventListSchema, example={"status": "success", "events": []})
    @blp.errors(*CALLER_ERRORS, "invalid_request", "state_unavailable", "internal_error")
    @requires("read")
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """List event deliveries

        The latest 100 deliveries, optionally only `pending`, `delivered` or `failed` (retries
        exhausted: re-send them with `POST /events/{event_id}/redeliver`). Scope `read`.
        """
        records = payment_events().outbox.records(args.get("status"))
        # The outbox also holds the service's own follow-ups (notices to verify, schedules to
        # look up): not events of anyone's.
        return {"events": [_record(r) for r in records if not r.url.startswith("internal:")]}


@blp.route("/<id:event_id>/redeliver")
class Redelivery(MethodView):
    @blp.doc(operationId="redeliverEvent")
    @blp.response(200, RedeliveredSchema, example={"status": "success", "redelivered": 1})
    @blp.errors(*CALLER_ERRORS, "event_not_found", "state_unavailable", "internal_error")
    @blp.long_request_line
    @requires("read")
    def post(self, event_id: str) -> dict[str, Any]:
        """Re-send an event whose delivery failed

        Its failed deliveries are queued again, due now, with their retries reset; the event
        keeps its `webhook-id`. Scope `read`.
        """
        events = payment_events()
        redelivered = events.outbox.redeliver(event_id)
        if not redelivered:
            raise EventNotFound()
        if events.consumer is not None:
            events.consumer.wake()
        return {"redelivered": redelivered}


def _record(record: Any) -> dict[str, Any]:
    def at(seconds: float | None) -> datetime | None:
        return None if seconds is None else datetime.fromtimestamp(seconds, UTC)

    return {
        "event_id": record.event_id,
        "url": record.url,
        "event_type": record.event_type,
        "status": record.status,
        "attempts": record.attempts,
        "created_at": at(record.created_at),
        "next_attempt_at": at(record.next_attempt_at),
        "delivered_at": at(record.delivered_at),
        "last_error": record.last_error,
    }
