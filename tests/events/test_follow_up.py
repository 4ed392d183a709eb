"""The service follows its own charges and cancels up: a pending charge, an unknown outcome
nobody retried, and a request whose event could not be written all still get their event, once;
through the app against the sandbox, with its event consumer running and a real subscriber."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
import requests

from billing_service import create_app
from billing_service.api.publisher import FOLLOW_UP
from billing_service.events.outbox import Outbox
from billing_service.extensions import shared
from billing_service.sandbox import portone_v2
from billing_service.state import StateUnavailable

from ..support import CALLER_KEY, NO_LIMITS, V1, VALID_BODY, v1_only
from .test_delivery import SECRET, Subscriber

pytestmark = pytest.mark.both_providers

CHARGES = "/subscriptions/payments"
DECLINED_CARD = "4000000000000341"  # declined with code 0 and a failed payment
UID = VALID_BODY["customer_uid"]


def wait_until(check: Callable[[], Any], timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := check()):
        assert time.monotonic() < deadline, "not in time"
        time.sleep(0.05)
    return result


class FailingWrites:
    """The app's outbox, but the writes numbered in ``failing`` (from 1) raise StateUnavailable,
    as a store that goes away between two writes of one request."""

    def __init__(self, outbox: Outbox, failing: set[int]) -> None:
        self._outbox = outbox
        self._failing = failing
        self.writes = 0

    def add(self, *args: Any, **kwargs: Any) -> str | None:
        return self._write(self._outbox.add, *args, **kwargs)

    def add_job(self, *args: Any, **kwargs: Any) -> str | None:
        return self._write(self._outbox.add_job, *args, **kwargs)

    def _write(self, write: Callable[..., str | None], *args: Any, **kwargs: Any) -> str | None:
        self.writes += 1
        if self.writes in self._failing:
            raise StateUnavailable("the store went away")
        return write(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._outbox, name)


@pytest.fixture
def app(sandbox, subscriber):
    env = sandbox.env(
        IAMPORT_READ_TIMEOUT="1",
        BILLING_EVENT_URLS=subscriber.url,
        BILLING_EVENT_SECRET=SECRET,
        BILLING_PENDING_RECHECK_SECONDS="0.2",
        BILLING_EVENT_RETRY_DELAYS=",".join(["0.3"] * 50),
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


def issue(client, card: str = VALID_BODY["card_number"]) -> None:
    body = {**VALID_BODY, "card_number": card}
    assert client.post("/subscriptions/issue-billing", json=body).status_code == 200


def charge(client, merchant_uid: str):
    body = {"customer_uid": UID, "merchant_uid": merchant_uid, "amount": 9900, "name": "월간"}
    return client.post(CHARGES, json=body)


def follow_ups(app) -> list[Any]:
    return [r for r in shared(app).events.outbox.records(None) if r.kind == FOLLOW_UP]


def events(subscriber: Subscriber) -> list[dict[str, Any]]:
    return [json.loads(request["body"]) for request in subscriber.requests]


def settled(app, subscriber: Subscriber, count: int) -> list[dict[str, Any]]:
    """The events, once ``count`` came and every follow-up is done (nothing more can come)."""
    wait_until(lambda: len(subscriber.requests) >= count)
    wait_until(lambda: all(r.status == "delivered" for r in follow_ups(app)))
    return events(subscriber)


def test_a_pending_charge_nobody_follows_up_gets_its_failed_event(app, client, sandbox, subscriber):
    issue(client)
    shared(app).events.consumer.start()

    pending = charge(client, "pending-1")

    assert pending.status_code == 202
    # Looked up while still ready: not done, looked up again on the retry schedule.
    wait_until(lambda: [r.attempts for r in follow_ups(app)] >= [1])
    assert [r.status for r in follow_ups(app)] == ["pending"]
    imp_uid = pending.get_json()["payment"]["imp_uid"]
    if sandbox.provider == V1:
        sandbox.admin("POST", f"payments/{imp_uid}/settle", status="failed")  # I'mport: no notice
    else:  # the V2 fake settles the paymentId's latest attempt
        sandbox.admin("POST", "payments/pending-1/settle", status="FAILED")
    [event] = settled(app, subscriber, 1)
    assert event["type"] == "payment.failed"
    assert (event["data"]["payment"]["imp_uid"], event["data"]["source"]) == (
        imp_uid,
        "reconciliation",
    )


def test_a_charge_whose_outcome_stayed_unknown_and_nobody_retried_gets_its_event(
    app, client, sandbox, subscriber
):
    issue(client, card=DECLINED_CARD)
    shared(app).events.consumer.start()
    declined = charge(client, "order-1").get_json()["payment"]  # an earlier attempt's decline
    issue(client)
    # I'mport stamps whole seconds: the next charge goes out in a later one than the decline.
    failed_second = datetime.fromisoformat(declined["failed_at"]).timestamp()
    wait_until(lambda: time.time() >= failed_second + 1, timeout=3)
    sandbox.admin(
        "POST", "faults", route=sandbox.route("charge"), fault="stall"
    )  # done after the lookup

    lost = charge(client, "order-1")

    assert (lost.status_code, lost.get_json()["retryable"]) == (504, True)
    got = settled(app, subscriber, 2)
    assert [e["type"] for e in got] == ["payment.failed", "payment.paid"]
    assert got[1]["data"]["payment"]["merchant_uid"] == "order-1"
    assert sandbox.count(sandbox.route("charge")) == 2


def test_a_charge_lost_in_the_second_of_its_orders_decline_still_gets_its_event(
    app, client, sandbox, subscriber
):
    issue(client, card=DECLINED_CARD)
    shared(app).events.consumer.start()
    # The decline and the next charge in one second (I'mport stamps whole seconds).
    wait_until(lambda: time.time() % 1 < 0.1, timeout=3)
    declined = charge(client, "order-2").get_json()["payment"]
    issue(client)
    sandbox.admin(
        "POST", "faults", route=sandbox.route("charge"), fault="stall"
    )  # done after the lookup
    sent_at = time.time()

    lost = charge(client, "order-2")

    if int(sent_at) != int(datetime.fromisoformat(declined["failed_at"]).timestamp()):
        pytest.skip("the machine was too slow to send both charges in one second")
    assert (lost.status_code, lost.get_json()["retryable"]) == (504, True)
    # Nobody retries: the follow-up is not ended by the decline of that second, and tells this.
    got = settled(app, subscriber, 2)
    assert [e["type"] for e in got] == ["payment.failed", "payment.paid"]
    assert got[1]["data"]["payment"]["imp_uid"] != declined["imp_uid"]
    assert sandbox.count(sandbox.route("charge")) == 2


def test_a_cancel_whose_outcome_stayed_unknown_and_nobody_retried_gets_its_event(
    app, client, sandbox, subscriber
):
    issue(client)
    paid = charge(client, "order-1").get_json()["payment"]
    shared(app).events.consumer.start()
    sandbox.admin("POST", "faults", route=sandbox.route("cancel"), fault="stall")

    lost = client.post(
        f"{CHARGES}/{paid['imp_uid']}/cancel",
        json={"reason": "환불", "amount": 100},
        headers={"Idempotency-Key": "refund-1"},
    )

    assert (lost.status_code, lost.get_json()["retryable"]) == (504, True)
    got = settled(app, subscriber, 2)
    assert sorted(e["type"] for e in got) == ["payment.paid", "payment.partially_cancelled"]
    [cancelled] = [e for e in got if e["type"] == "payment.partially_cancelled"]
    assert cancelled["data"]["payment"]["cancel_amount"] == 100


def test_a_decline_whose_event_could_not_be_written_still_gets_it_once(
    app, client, sandbox, subscriber
):
    issue(client, card=DECLINED_CARD)
    events_ = shared(app).events
    events_.outbox = FailingWrites(events_.outbox, failing={2})  # the follow-up, then the event
    events_.consumer.start()

    declined = charge(client, "order-1")

    # I'mport declined (and sends no notice for it); the answer stands without its event.
    assert declined.status_code == 402
    [event] = settled(app, subscriber, 1)
    assert event["type"] == "payment.failed"
    assert event["data"]["payment"]["imp_uid"] == declined.get_json()["payment"]["imp_uid"]


def test_a_change_learned_by_the_answer_and_the_follow_up_is_one_event(
    app, client, sandbox, subscriber
):
    issue(client, card=DECLINED_CARD)
    shared(app).events.consumer.start()

    assert charge(client, "order-1").status_code == 402

    assert [e["type"] for e in settled(app, subscriber, 1)] == ["payment.failed"]
    assert len(follow_ups(app)) == 1


@pytest.mark.parametrize("cancel", [False, True])
def test_nothing_is_sent_when_the_follow_up_cannot_be_kept(app, client, sandbox, cancel):
    issue(client)
    paid = charge(client, "order-1").get_json()["payment"]
    before = sandbox.counts()
    events_ = shared(app).events
    events_.outbox = FailingWrites(events_.outbox, failing={1})

    if cancel:
        resp = client.post(f"{CHARGES}/{paid['imp_uid']}/cancel", json={"reason": "환불"})
    else:
        resp = charge(client, "order-2")

    assert resp.status_code == 503
    assert resp.get_json()["code"] == "state_unavailable"
    after = sandbox.counts()
    for route in (sandbox.route("charge"), sandbox.route("cancel")):
        assert after.get(route) == before.get(route)


def test_a_verified_notice_that_cannot_be_recorded_is_503_for_imports_to_resend(
    app, client, provider
):
    v1_only(provider, "I'mport's webhook notices (V2 sends its own webhooks)")
    issue(client)
    paid = charge(client, "order-1").get_json()["payment"]
    events_ = shared(app).events
    events_.outbox = FailingWrites(events_.outbox, failing=set(range(1, 10)))
    notice = {"imp_uid": paid["imp_uid"], "merchant_uid": "order-1", "status": "paid"}

    resp = app.test_client().post("/webhooks/iamport", json=notice)

    assert resp.status_code == 503
    assert resp.get_json()["code"] == "state_unavailable"


def test_a_cancel_the_pg_does_later_gets_its_event_though_nobody_retried(
    app, client, sandbox, subscriber
):
    if sandbox.provider == V1:
        pytest.skip("V2 only: PortOne's asynchronous (REQUESTED) cancellation")
    issue(client)
    paid = charge(client, "order-1").get_json()["payment"]
    shared(app).events.consumer.start()
    sandbox.admin("POST", "config", cancel_outcome="REQUESTED")

    resp = client.post(f"{CHARGES}/{paid['imp_uid']}/cancel", json={"reason": "환불"})

    assert resp.status_code == 202
    wait_until(lambda: any(r.attempts for r in follow_ups(app)))
    shown = requests.get(
        f"{sandbox.url}/payments/order-1",
        params={"storeId": portone_v2.DEFAULT_STORE_ID},
        headers={"Authorization": f"PortOne {portone_v2.DEFAULT_API_SECRET}"},
        timeout=5,
    ).json()
    [cancellation] = shown["cancellations"]
    path = f"payments/order-1/cancellations/{cancellation['id']}/settle"
    sandbox.admin("POST", path, status="SUCCEEDED")
    got = settled(app, subscriber, 2)
    assert [e["type"] for e in got] == ["payment.paid", "payment.cancelled"]
    assert got[1]["data"]["payment"]["cancel_amount"] == paid["amount"]
