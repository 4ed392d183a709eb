"""The V2 sandbox's payment schedules, read back with PortOne's SDK: create, look up, list
(its 90-day default window on timeToPay), revoke (all or nothing), their execution on the
sandbox clock, and the key that cannot be deleted while it has some."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from portone_server_sdk import PortOneClient
from portone_server_sdk.common import PaymentAmountInput
from portone_server_sdk.errors import (
    AlreadyPaidOrWaitingError,
    BillingKeyNotFoundError,
    PaymentScheduleAlreadyExistsError,
    PaymentScheduleAlreadyProcessedError,
    PaymentScheduleAlreadyRevokedError,
    PaymentScheduleNotFoundError,
)
from portone_server_sdk.payment import FailedPayment, PaidPayment
from portone_server_sdk.payment.payment_schedule import (
    BillingKeyPaymentScheduleInput,
    FailedPaymentSchedule,
    PaymentScheduleFilterInput,
    PendingPaymentSchedule,
    RevokedPaymentSchedule,
    ScheduledPaymentSchedule,
    StartedPaymentSchedule,
    SucceededPaymentSchedule,
)

from billing_service.sandbox import SandboxServer
from billing_service.sandbox.portone_v2 import DEFAULT_STORE_ID, MERCHANT_ID

from .helpers import DECLINING_CARD, admin, config, issue, pay, raw

FAR = "2999-01-01T00:00:00Z"
EPOCH = "2000-01-01T00:00:00Z"


def _at(v2: SandboxServer, seconds: int) -> str:
    """An RFC 3339 time `seconds` after the sandbox's now."""
    now = v2.fake.state.now()
    return datetime.fromtimestamp(now + seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def schedule(
    client: PortOneClient,
    payment_id: str,
    billing_key: str,
    time_to_pay: str,
    total: int = 9_900,
    **extra: Any,
) -> str:
    payment = BillingKeyPaymentScheduleInput(
        billing_key=billing_key,
        order_name="월 구독",
        amount=PaymentAmountInput(total=total),
        currency="KRW",
        **extra,
    )
    response = client.payment.payment_schedule.create_payment_schedule(
        payment_id=payment_id, payment=payment, time_to_pay=time_to_pay
    )
    return response.schedule.id


def _listed(client: PortOneClient, **filter_: Any) -> list[Any]:
    response = client.payment.payment_schedule.get_payment_schedules(
        filter=PaymentScheduleFilterInput(**filter_)
    )
    return response.items


def test_a_schedule_reads_back_scheduled_with_every_field(
    v2: SandboxServer, client: PortOneClient
) -> None:
    key = issue(client)
    schedule_id = schedule(client, "order-1", key, _at(v2, 3600), custom_data='{"plan":"p"}')
    found = client.payment.payment_schedule.get_payment_schedule(payment_schedule_id=schedule_id)
    assert isinstance(found, ScheduledPaymentSchedule)
    assert (found.id, found.payment_id, found.billing_key) == (schedule_id, "order-1", key)
    assert (found.merchant_id, found.store_id) == (MERCHANT_ID, DEFAULT_STORE_ID)
    assert (found.total_amount, found.currency, found.custom_data) == (9_900, "KRW", '{"plan":"p"}')
    assert found.customer.id == "cust-1"  # the key's customer when the schedule names none


def test_the_list_needs_an_explicit_until_for_future_schedules(
    v2: SandboxServer, client: PortOneClient
) -> None:
    key, other = issue(client), issue(client, customer_id="cust-2")
    first = schedule(client, "order-1", key, _at(v2, 86_400))
    schedule(client, "order-2", other, _at(v2, 86_400))
    assert _listed(client, billing_key=key) == []  # default window: the past 90 days
    items = _listed(client, billing_key=key, from_=EPOCH, until=FAR)
    assert [item.id for item in items] == [first]
    assert len(_listed(client, from_=EPOCH, until=FAR)) == 2
    assert _listed(client, from_=EPOCH, until=FAR, status=["REVOKED"]) == []


def test_the_list_takes_a_json_body_too(v2: SandboxServer, client: PortOneClient) -> None:
    key = issue(client)
    schedule_id = schedule(client, "order-1", key, _at(v2, 60))
    body = {"filter": {"billingKey": key, "until": FAR}, "page": {"number": 0, "size": 5}}
    response = raw(v2, "GET", "/payment-schedules", body)
    assert response.status == 200
    assert [item["id"] for item in response.json()["items"]] == [schedule_id]


def test_the_clock_runs_due_schedules_paid_or_failed(
    v2: SandboxServer, client: PortOneClient
) -> None:
    good, bad = issue(client), issue(client, DECLINING_CARD, customer_id="cust-2")
    paid = schedule(client, "order-paid", good, _at(v2, 3600))
    failed = schedule(client, "order-failed", bad, _at(v2, 3600))
    later = schedule(client, "order-later", good, _at(v2, 7200))
    moved = admin(v2, "clock", {"advance": 3601})
    assert moved["executed"] == [paid, failed]
    get = client.payment.payment_schedule.get_payment_schedule
    done = get(payment_schedule_id=paid)
    assert isinstance(done, SucceededPaymentSchedule) and done.completed_at and done.started_at
    assert isinstance(get(payment_schedule_id=failed), FailedPaymentSchedule)
    assert isinstance(get(payment_schedule_id=later), ScheduledPaymentSchedule)
    payment = client.payment.get_payment(payment_id="order-paid")
    assert isinstance(payment, PaidPayment) and payment.schedule_id == paid
    declined = client.payment.get_payment(payment_id="order-failed")
    assert isinstance(declined, FailedPayment) and declined.schedule_id == failed


def test_pending_and_unanswered_charges_leave_a_schedule_pending_or_started(
    v2: SandboxServer, client: PortOneClient
) -> None:
    key = issue(client)
    pending = schedule(client, "pending-1", key, _at(v2, 60))
    started = schedule(client, "fault-ready-1", key, _at(v2, 60))
    admin(v2, "clock", {"advance": 61})
    get = client.payment.payment_schedule.get_payment_schedule
    assert isinstance(get(payment_schedule_id=pending), PendingPaymentSchedule)
    assert isinstance(get(payment_schedule_id=started), StartedPaymentSchedule)
    admin(v2, "payments/pending-1/settle", {"status": "PAID"})
    assert isinstance(get(payment_schedule_id=pending), SucceededPaymentSchedule)
    revoked = schedule(client, "order-revoked", key, _at(v2, 60))
    client.payment.payment_schedule.revoke_payment_schedules(schedule_ids=[revoked])
    failed = schedule(client, "order-failed", issue(client, DECLINING_CARD), _at(v2, 60))
    still_pending = schedule(client, "pending-2", key, _at(v2, 60))
    admin(v2, "clock", {"advance": 61})
    waiting = schedule(client, "order-waiting", key, _at(v2, 60))
    listed = {item.id: type(item) for item in _listed(client, from_=EPOCH, until=FAR)}
    assert listed == {  # the SDK reads a page holding every status
        pending: SucceededPaymentSchedule,
        started: StartedPaymentSchedule,
        revoked: RevokedPaymentSchedule,
        failed: FailedPaymentSchedule,
        still_pending: PendingPaymentSchedule,
        waiting: ScheduledPaymentSchedule,
    }


def test_revoking_a_key_revokes_its_scheduled_ones_and_frees_the_key(
    v2: SandboxServer, client: PortOneClient
) -> None:
    key = issue(client)
    ids = [schedule(client, f"order-{n}", key, _at(v2, 60 * n)) for n in (1, 2)]
    with pytest.raises(PaymentScheduleAlreadyExistsError):
        client.payment.billing_key.delete_billing_key(billing_key=key)
    revoked = client.payment.payment_schedule.revoke_payment_schedules(billing_key=key)
    assert revoked.revoked_schedule_ids == ids and revoked.revoked_at
    found = client.payment.payment_schedule.get_payment_schedule(payment_schedule_id=ids[0])
    assert isinstance(found, RevokedPaymentSchedule) and found.revoked_at
    client.payment.billing_key.delete_billing_key(billing_key=key)
    assert admin(v2, "clock", {"advance": 600})["executed"] == []


def test_revoking_nothing_is_an_error_unless_switched(
    v2: SandboxServer, client: PortOneClient
) -> None:
    key = issue(client)
    revoke = client.payment.payment_schedule.revoke_payment_schedules
    with pytest.raises(PaymentScheduleNotFoundError):
        revoke(billing_key=key)
    config(v2, revoke_nothing="ok")
    answer = revoke(billing_key=key)
    assert answer.revoked_schedule_ids == [] and answer.revoked_at is None
    with pytest.raises(BillingKeyNotFoundError):
        revoke(billing_key="billing-key-unknown")


def test_revoking_ids_is_all_or_nothing(v2: SandboxServer, client: PortOneClient) -> None:
    key = issue(client)
    ran = schedule(client, "order-1", key, _at(v2, 60))
    waiting = schedule(client, "order-2", key, _at(v2, 3600))
    admin(v2, "clock", {"advance": 61})
    revoke = client.payment.payment_schedule.revoke_payment_schedules
    with pytest.raises(PaymentScheduleAlreadyProcessedError):
        revoke(schedule_ids=[waiting, ran])
    get = client.payment.payment_schedule.get_payment_schedule
    assert isinstance(get(payment_schedule_id=waiting), ScheduledPaymentSchedule)
    assert revoke(schedule_ids=[waiting]).revoked_schedule_ids == [waiting]
    with pytest.raises(PaymentScheduleAlreadyRevokedError):
        revoke(schedule_ids=[waiting])
    with pytest.raises(PaymentScheduleNotFoundError):
        revoke(schedule_ids=["no-such-schedule"])


def test_a_payment_id_is_scheduled_once_and_again_after_a_revoke(
    v2: SandboxServer, client: PortOneClient
) -> None:
    key = issue(client)
    first = schedule(client, "order-1", key, _at(v2, 60))
    with pytest.raises(PaymentScheduleAlreadyExistsError):
        schedule(client, "order-1", key, _at(v2, 120))
    client.payment.payment_schedule.revoke_payment_schedules(schedule_ids=[first])
    again = schedule(client, "order-1", key, _at(v2, 120))  # allowed by default
    assert again != first
    client.payment.payment_schedule.revoke_payment_schedules(schedule_ids=[again])
    config(v2, reschedule_revoked=False)
    with pytest.raises(PaymentScheduleAlreadyExistsError):
        schedule(client, "order-1", key, _at(v2, 180))


def test_a_paid_payment_id_cannot_be_scheduled(v2: SandboxServer, client: PortOneClient) -> None:
    key = issue(client)
    pay(client, "order-1", key)
    with pytest.raises(AlreadyPaidOrWaitingError):
        schedule(client, "order-1", key, _at(v2, 60))
    schedule(client, "order-2", key, _at(v2, 60))
    response = raw(
        v2,
        "POST",
        "/payments/order-2/billing-key",
        {"billingKey": key, "orderName": "x", "amount": {"total": 1}, "currency": "KRW"},
    )
    assert response.status == 409
    assert response.json()["type"] == "PAYMENT_SCHEDULE_ALREADY_EXISTS"


def test_a_bad_schedule_body_is_refused(v2: SandboxServer) -> None:
    response = raw(v2, "POST", "/payments/order-1/schedule", {"payment": {}, "timeToPay": "x"})
    assert response.status == 400 and response.json()["type"] == "INVALID_REQUEST"
