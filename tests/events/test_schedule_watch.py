"""A schedule is watched before it is sent: the lookup that tells its outcome when no notice
comes is kept first (503, nothing sent, if it cannot be), so a schedule whose answer was lost,
or whose request died, still gets its event; one the provider refused ends quietly. Through the
app against each provider's sandbox, with its event consumer running and a real subscriber."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from billing_service import create_app
from billing_service.api.publisher import RECONCILE_SCHEDULE
from billing_service.extensions import shared

from ..support import CALLER_KEY, NO_LIMITS, V1, V2, VALID_BODY
from .test_delivery import SECRET
from .test_follow_up import FailingWrites, events, wait_until

SCHEDULES = "/subscriptions/schedules"
# Each provider's call making a schedule, and its look-up of a schedule the service has no id of
# (V2: a page of the store's schedules, matched on paymentId).
SCHEDULE = {V1: "POST /subscribe/payments/schedule", V2: "POST /payments/{paymentId}/schedule"}
LOOKUP = {V1: "GET /subscribe/payments/schedule/{merchant_uid}", V2: "GET /payment-schedules"}
UID = VALID_BODY["customer_uid"]

pytestmark = pytest.mark.both_providers


@pytest.fixture
def app(sandbox, subscriber):
    env = sandbox.env(
        IAMPORT_READ_TIMEOUT="1",
        BILLING_EVENT_URLS=subscriber.url,
        BILLING_EVENT_SECRET=SECRET,
        BILLING_EVENT_RETRY_DELAYS=",".join(["0.3"] * 50),
        # Looked up as soon as it was due (the sandbox executes it on the real clock).
        BILLING_SCHEDULE_RECONCILE_AFTER="0.5",
        **NO_LIMITS,
    )
    app = create_app(env)
    yield app
    shared(app).events.consumer.stop(5)


@pytest.fixture
def client(app):
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {CALLER_KEY}"
    return client


def schedule(client, merchant_uid: str, in_seconds: float = 2.0):
    at = (datetime.now(UTC) + timedelta(seconds=in_seconds)).isoformat()
    charge = {"merchant_uid": merchant_uid, "amount": 100, "name": "x", "schedule_at": at}
    return client.post(SCHEDULES, json={"customer_uid": UID, "schedules": [charge]})


def watches(app) -> list[Any]:
    return [r for r in shared(app).events.outbox.records(None) if r.kind == RECONCILE_SCHEDULE]


def test_nothing_is_scheduled_when_its_watch_cannot_be_kept(app, client, sandbox):
    assert client.post("/subscriptions/issue-billing", json=VALID_BODY).status_code == 200
    events_ = shared(app).events
    events_.outbox = FailingWrites(events_.outbox, failing={1})

    resp = schedule(client, "later-1", in_seconds=3600)

    assert resp.status_code == 503
    assert resp.get_json()["code"] == "state_unavailable"
    assert resp.get_json()["retryable"] is True
    assert sandbox.count(SCHEDULE[sandbox.provider]) == 0


def test_a_schedule_whose_answer_was_lost_is_still_told(app, client, sandbox, subscriber):
    assert client.post("/subscriptions/issue-billing", json=VALID_BODY).status_code == 200
    # The provider makes the schedule but its answer is lost, and so is every lookup of it
    # during the request: the outcome is unknown, and this caller never retries. No notice comes
    # (the sandbox has no webhook URL).
    sandbox.admin("POST", "faults", route=SCHEDULE[sandbox.provider], fault="drop")
    sandbox.admin("POST", "faults", route=LOOKUP[sandbox.provider], fault="http_500", times=3)
    shared(app).events.consumer.start()

    resp = schedule(client, "quiet-1")

    assert resp.status_code >= 500
    assert sandbox.count(SCHEDULE[sandbox.provider]) == 1
    [executed] = wait_until(lambda: events(subscriber), timeout=30)
    assert executed["type"] == "schedule.executed"
    assert executed["data"]["payment"]["merchant_uid"] == "quiet-1"
    assert executed["data"]["source"] == "reconciliation"


def test_the_watch_of_a_refused_schedule_ends_quietly(app, client, sandbox, subscriber):
    shared(app).events.consumer.start()

    resp = schedule(client, "refused-1", in_seconds=1)  # this customer has no billing key

    assert resp.status_code == 404, resp.get_json()
    assert resp.get_json()["code"] == "billing_key_not_found"
    [watch] = wait_until(lambda: [r for r in watches(app) if r.status == "delivered"])
    assert (watch.attempts, watch.last_error) == (1, None)
    assert subscriber.requests == []
