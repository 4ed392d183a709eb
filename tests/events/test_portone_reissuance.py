"""A PortOne V2 re-issuance under a customer_uid with pending schedules, through the app and its
recorded job (api/reissuance.py) against the V2 sandbox: the schedules move to the new key and
charge the new card, the old key is deleted only once none is left on it; when PortOne refuses
to schedule a revoked paymentId again (the sandbox's switch), the job stops there, tells
``schedule.failed`` and keeps the old key with what it still holds."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from billing_service import create_app
from billing_service.extensions import shared

from ..resources.test_provider_flow import v2_key
from ..support import CALLER_KEY, CORPORATE_CARD, NO_LIMITS, V2, VALID_BODY, Sandbox, poll
from .test_delivery import SECRET
from .test_follow_up import events

UID = VALID_BODY["customer_uid"]
SCHEDULE = "POST /payments/{paymentId}/schedule"
DELETE_KEY = "DELETE /billing-keys/{billingKey}"


@pytest.fixture
def provider() -> str:
    return V2


@pytest.fixture
def client(sandbox: Sandbox, subscriber) -> Iterator[Any]:
    env = sandbox.env(BILLING_EVENT_URLS=subscriber.url, BILLING_EVENT_SECRET=SECRET, **NO_LIMITS)
    client = create_app(env).test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {CALLER_KEY}"
    consumer = shared(client.application).events.consumer
    consumer.start()  # runs the re-issuance's job (gunicorn.conf.py starts it in each worker)
    yield client
    consumer.stop(5)


def schedule(client, *days: int) -> None:
    now = datetime.now(UTC)
    items = [
        {
            "merchant_uid": f"move-{day}",
            "amount": 900 + day,
            "name": "x",
            "schedule_at": (now + timedelta(days=day)).isoformat(),
        }
        for day in days
    ]
    body = {"customer_uid": UID, "schedules": items}
    assert client.post("/subscriptions/schedules", json=body).status_code == 200


def listed(client) -> list[tuple[str, str]]:
    resp = client.get(f"/subscriptions/billing-keys/{UID}/schedules")
    assert resp.status_code == 200, resp.get_json()
    return sorted((s["merchant_uid"], s["schedule_status"]) for s in resp.get_json()["schedules"])


def route_order(sandbox: Sandbox) -> list[str]:
    """The routes the service called at the sandbox, in order."""
    calls = sandbox.admin("GET", "calls")["calls"]
    return [f"{c['method']} {c['route']}" for c in calls]


def test_a_reissuance_moves_pending_schedules_then_deletes_the_old_key(client, sandbox, subscriber):
    assert client.post("/subscriptions/issue-billing", json=VALID_BODY).status_code == 200
    schedule(client, 10, 20)
    reissued = {**VALID_BODY, "card_number": CORPORATE_CARD}

    assert client.post("/subscriptions/issue-billing", json=reissued).status_code == 200

    assert poll(lambda: sandbox.count(DELETE_KEY) == 1, 15)
    routes = route_order(sandbox)
    # Two schedules first, two more (the moves) after the re-issue; the key deleted last.
    moves = [i for i, route in enumerate(routes) if route == SCHEDULE]
    assert len(moves) == 4 and routes.index(DELETE_KEY) > moves[-1]
    assert listed(client) == [("move-10", "scheduled"), ("move-20", "scheduled")]
    sandbox.admin("POST", "clock", advance="P11D")
    executed = client.get("/subscriptions/schedules/move-10").get_json()["schedule"]
    assert executed["payment_status"] == "paid"
    payment = client.get(f"/subscriptions/payments/{executed['imp_uid']}").get_json()["payment"]
    assert payment["card_number"].startswith("555555")  # the new card
    assert not [e for e in events(subscriber) if e["type"] == "schedule.failed"]


def test_a_refused_move_stops_the_job_tells_it_and_keeps_the_old_key(client, sandbox, subscriber):
    assert client.post("/subscriptions/issue-billing", json=VALID_BODY).status_code == 200
    schedule(client, 10, 20)
    sandbox.admin("POST", "config", reschedule_revoked=False)
    reissued = {**VALID_BODY, "card_number": CORPORATE_CARD}

    assert client.post("/subscriptions/issue-billing", json=reissued).status_code == 200

    assert poll(lambda: [e for e in events(subscriber) if e["type"] == "schedule.failed"], 15)
    [failed] = [e for e in events(subscriber) if e["type"] == "schedule.failed"]
    assert failed["data"]["source"] == "reissuance"
    assert failed["data"]["schedule"]["merchant_uid"] == "move-10"
    assert failed["data"]["reason"]
    # The job stopped at the first refusal: move-20 stays on the old key, which is kept.
    # (PortOne refuses to delete a key holding a schedule: a try answered 409 deletes nothing.)
    assert [c["status"] for c in sandbox.calls(DELETE_KEY)] in ([], [409])
    assert ("move-20", "scheduled") in listed(client)
    [old_key] = {c["path"] for c in sandbox.calls("GET /billing-keys/{billingKey}")[:1]}
    assert v2_key(sandbox, old_key)["status"] == "ISSUED"
