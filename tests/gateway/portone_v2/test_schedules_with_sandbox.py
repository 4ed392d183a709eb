"""The PortOne V2 client's schedules against the V2 sandbox: the subscription loop on the
sandbox clock, all or nothing, and a re-issuance's move of the schedules to the new key."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import urllib3

from billing_service.gateway import (
    DuplicateMerchantUid,
    ScheduledCharge,
    ScheduleNotRevocable,
    SchedulesPending,
)

from .test_with_sandbox import card, charge, configure, seeded


def due(days: int) -> datetime:
    return (datetime.now(UTC) + timedelta(days=days)).replace(microsecond=0)


def order(merchant_uid: str, days: int = 10) -> ScheduledCharge:
    return ScheduledCharge(
        merchant_uid=merchant_uid, amount=9900, name="구독", schedule_at=due(days)
    )


def advance(v2, duration: str) -> None:
    response = urllib3.request(
        "POST", f"{v2.url}/__sandbox__/clock", json={"advance": duration}, timeout=5
    )
    assert response.status == 200, response.data


def window(days: int = 60) -> tuple[datetime, datetime]:
    return datetime.now(UTC) - timedelta(days=1), datetime.now(UTC) + timedelta(days=days)


def test_schedule_run_look_up_list_revoke(v2, client):
    client.issue_billing_key("uid", card())
    first = order("o-1", 10)
    with seeded("schedule"):
        result = client.schedule_charges("uid", [first, order("o-2", 40)])
    assert [s.schedule_status for s in result.schedules] == ["scheduled", "scheduled"]
    assert client.get_schedule("o-1").schedule_at == first.schedule_at

    advance(v2, "P11D")
    ran = client.get_schedule("o-1")
    assert (ran.schedule_status, ran.payment_status) == ("executed", "paid")
    assert ran.imp_uid is not None and client.get_payment(ran.imp_uid).merchant_uid == "o-1"

    revoked = client.revoke_schedule("o-2")
    assert revoked.schedule_status == "revoked" and revoked.revoked_at is not None
    with pytest.raises(ScheduleNotRevocable):
        client.revoke_schedule("o-1")
    start, end = window(90)
    listed, complete = client.list_schedules("uid", start, end)
    assert complete and [(s.merchant_uid, s.schedule_status) for s in listed] == [
        ("o-1", "executed"),
        ("o-2", "revoked"),
    ]
    executed, _ = client.list_schedules("uid", start, end, "executed")
    assert [s.merchant_uid for s in executed] == ["o-1"]


def test_a_refused_charge_revokes_those_scheduled_before_it(v2, client):
    client.issue_billing_key("uid", card())
    client.charge_billing_key(charge("o-2"))  # o-2 is paid: its paymentId is taken

    with pytest.raises(DuplicateMerchantUid):
        client.schedule_charges("uid", [order("o-1"), order("o-2"), order("o-3")])

    assert client.get_schedule("o-1").schedule_status == "revoked"


def test_a_retry_counts_what_was_scheduled_as_asked(v2, client):
    client.issue_billing_key("uid", card())
    asked = [order("o-1"), order("o-2")]
    client.schedule_charges("uid", asked)

    again = client.schedule_charges("uid", asked)

    assert again.replayed and [s.merchant_uid for s in again.schedules] == ["o-1", "o-2"]


def test_a_lost_mapping_is_found_at_portone(v2, client, directory):
    client.issue_billing_key("uid", card())
    client.schedule_charges("uid", [order("o-1", 200)])
    directory.schedules.clear()

    assert client.get_schedule("o-1").schedule_status == "scheduled"
    assert "o-1" in directory.schedules


def test_a_key_with_schedules_is_deleted_only_with_revoke_schedules(v2, client):
    client.issue_billing_key("uid", card())
    client.schedule_charges("uid", [order("o-1")])

    with pytest.raises(SchedulesPending):
        client.delete_billing_key("uid")
    client.delete_billing_key("uid", revoke_schedules=True)

    assert client.get_schedule("o-1").schedule_status == "revoked"


def test_a_reissuance_moves_the_schedules_to_the_new_key(v2, client):
    old = client.issue_billing_key("uid", card())
    client.schedule_charges("uid", [order("o-1", 10), order("o-2", 20)])
    new = client.issue_billing_key("uid", card())
    assert new.provider_key is not None
    # Before the move, the old key keeps its schedules: it is not deleted.
    assert client.delete_replaced_keys("uid", new.provider_key) == []

    moved = client.move_schedules("uid", new.provider_key)

    assert [s.merchant_uid for s in moved.moved] == ["o-1", "o-2"] and moved.refused is None
    assert client.delete_replaced_keys("uid", new.provider_key) == [old.provider_key]
    start, end = window()
    listed, _ = client.list_schedules("uid", start, end)
    assert [(s.merchant_uid, s.schedule_status) for s in listed] == [
        ("o-1", "scheduled"),
        ("o-2", "scheduled"),
    ]
    advance(v2, "P11D")
    assert client.get_schedule("o-1").payment_status == "paid"


def test_a_move_stops_at_the_first_refusal_and_keeps_the_old_key(v2, client):
    client.issue_billing_key("uid", card())
    client.schedule_charges("uid", [order("o-1", 10), order("o-2", 20)])
    new = client.issue_billing_key("uid", card())
    assert new.provider_key is not None
    configure(v2, reschedule_revoked=False)

    moved = client.move_schedules("uid", new.provider_key)

    assert moved.moved == [] and moved.refused is not None
    assert moved.refused.merchant_uid == "o-1" and moved.reason
    assert client.delete_replaced_keys("uid", new.provider_key) == []  # o-2 is still on it
    assert client.get_schedule("o-2").schedule_status == "scheduled"
