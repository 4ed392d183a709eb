"""The gateway's scheduled charges and exactly-once cancels, over real HTTP against canned
I'mport answers (each call takes the next answer; the paths and bodies sent are recorded)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from billing_service.gateway import (
    CancelOutcomeUnknown,
    DuplicateMerchantUid,
    IamportClient,
    NothingToCancel,
    ScheduledCharge,
    ScheduleNotRevocable,
    ScheduleOutcomeUnknown,
    SchedulesPending,
)
from billing_service.sandbox import DEFAULT_API_KEY, DEFAULT_API_SECRET

from ..support import TOKEN_ANSWER, envelope

AT = datetime(2027, 1, 1, tzinfo=UTC)
CHARGE = ScheduledCharge(merchant_uid="s-1", amount=9900, name="월간", schedule_at=AT)


def schedule_result(**fields: object) -> dict:
    return {
        "customer_uid": "uid",
        "merchant_uid": "s-1",
        "imp_uid": None,
        "schedule_at": int(AT.timestamp()),
        "executed_at": 0,
        "revoked_at": 0,
        "amount": 9900,
        "name": "월간",
        "currency": "KRW",
        "schedule_status": "scheduled",
        "payment_status": None,
        "fail_reason": None,
        **fields,
    }


def client(url: str, **kwargs: object) -> IamportClient:
    return IamportClient(url, DEFAULT_API_KEY, DEFAULT_API_SECRET, **kwargs)  # type: ignore[arg-type]


def test_schedules_are_sent_in_unix_seconds_with_the_channel_key(canned):
    canned.add(200, TOKEN_ANSWER)
    canned.add(200, envelope([schedule_result()]))

    result = client(canned.url, channel_key="channel-1").schedule_charges("uid", [CHARGE])

    assert [s.merchant_uid for s in result.schedules] == ["s-1"]
    assert not result.replayed and not result.reconciled
    body = json.loads(canned.bodies[1])
    assert body["channel_key"] == "channel-1"
    assert body["schedules"][0]["schedule_at"] == int(AT.timestamp())
    assert body["schedules"][0]["merchant_uid"] == "s-1"


def test_a_refused_schedule_already_made_as_asked_is_this_request_replayed(canned):
    canned.add(200, TOKEN_ANSWER)
    canned.add(200, envelope(code=1, message="중복된 merchant_uid"))
    canned.add(200, envelope(schedule_result()))

    result = client(canned.url).schedule_charges("uid", [CHARGE])

    assert result.replayed
    assert canned.paths[-1] == "/subscribe/payments/schedule/s-1"


def test_a_refused_schedule_for_a_used_merchant_uid_is_a_duplicate(canned):
    canned.add(200, TOKEN_ANSWER)
    canned.add(200, envelope(code=1, message="중복"))
    canned.add(200, envelope(schedule_result(amount=1)))  # scheduled, but not as asked
    canned.add(404, envelope(code=-1, message="존재하지 않는 결제정보입니다."))
    canned.add(200, envelope(schedule_result(amount=1)))

    with pytest.raises(DuplicateMerchantUid):
        client(canned.url).schedule_charges("uid", [CHARGE])


def test_a_schedule_whose_answer_was_lost_is_looked_up_not_sent_again(canned):
    canned.add(200, TOKEN_ANSWER)
    canned.add(200, envelope([schedule_result()]), delay=2)  # past the read timeout
    canned.add(200, envelope(schedule_result()))

    result = client(canned.url, read_timeout=0.3).schedule_charges("uid", [CHARGE])

    assert result.reconciled
    assert canned.paths.count("/subscribe/payments/schedule") == 1


def test_a_lost_schedule_not_found_afterwards_is_an_unknown_outcome(canned):
    canned.add(200, TOKEN_ANSWER)
    canned.add(200, envelope([schedule_result()]), delay=2)
    canned.add(404, envelope(code=-1, message="없음"))

    with pytest.raises(ScheduleOutcomeUnknown):
        client(canned.url, read_timeout=0.3).schedule_charges("uid", [CHARGE])


def test_an_executed_schedule_cannot_be_revoked(canned):
    canned.add(200, TOKEN_ANSWER)
    canned.add(200, envelope(code=1, message="취소할 예약결제 기록이 존재하지 않습니다."))
    canned.add(200, envelope(schedule_result(schedule_status="executed")))

    with pytest.raises(ScheduleNotRevocable):
        client(canned.url).revoke_schedule("s-1")


def test_a_key_with_pending_schedules_is_not_deleted(canned):
    canned.add(200, TOKEN_ANSWER)
    canned.add(200, envelope({"total": 1, "previous": 0, "next": 0, "list": [schedule_result()]}))
    for _ in range(4):  # the other 90-day windows up to a year ahead
        canned.add(200, envelope({"total": 0, "previous": 0, "next": 0, "list": []}))

    with pytest.raises(SchedulesPending):
        client(canned.url).delete_billing_key("uid")

    assert not any(path.startswith("/subscribe/customers") for path in canned.paths)
    assert "schedule-status=scheduled" in canned.paths[1]


PAID = {
    "imp_uid": "imps_1",
    "merchant_uid": "o-1",
    "customer_uid": "uid",
    "status": "paid",
    "amount": 9900,
    "cancel_amount": 0,
}


def cancelled_by(amount: int, reason: str, at: datetime) -> dict:
    entry = {"amount": amount, "reason": reason, "cancelled_at": int(at.timestamp())}
    return {**PAID, "cancel_amount": amount, "cancel_history": [entry]}


def test_a_retried_cancel_that_went_through_is_answered_replayed_not_sent(canned):
    began = datetime.now(UTC) - timedelta(seconds=30)
    canned.add(200, TOKEN_ANSWER)
    canned.add(200, envelope(cancelled_by(500, "asked", began + timedelta(seconds=1))))

    result = client(canned.url).cancel_payment(
        "imps_1", "asked", 500, checksum=9900, since=began.timestamp()
    )

    assert result.replayed
    assert "/payments/cancel" not in canned.paths


def test_a_retried_cancel_sends_the_first_attempts_checksum(canned):
    canned.add(200, TOKEN_ANSWER)
    canned.add(200, envelope({**PAID, "cancel_amount": 100}))  # moved by another cancel
    canned.add(200, envelope(code=1, message="checksum 불일치"))
    canned.add(200, envelope({**PAID, "cancel_amount": 100}))  # the refusal, explained
    kept: list[int] = []

    with pytest.raises(NothingToCancel, match="balance changed"):
        client(canned.url).cancel_payment(
            "imps_1", "asked", 500, checksum=9900, since=0.0, keep_checksum=kept.append
        )

    assert json.loads(canned.bodies[2])["checksum"] == 9900  # not the balance read now
    assert kept == []  # a retry keeps what the first attempt kept


def test_a_cancel_whose_answer_was_lost_and_cannot_be_found_is_an_unknown_outcome(canned):
    canned.add(200, TOKEN_ANSWER)
    canned.add(200, envelope(PAID))
    canned.add(200, envelope(PAID), delay=2)
    canned.add(500, envelope(code=-1, message="down"))
    kept: list[int] = []

    with pytest.raises(CancelOutcomeUnknown):
        client(canned.url, read_timeout=0.3).cancel_payment(
            "imps_1", "asked", 500, keep_checksum=kept.append
        )

    assert kept == [9900]  # kept before the cancel was sent
    assert canned.paths.count("/payments/cancel") == 1


def test_a_charge_refused_while_an_earlier_attempt_is_ready_is_pending_not_declined(canned):
    from billing_service.gateway import Charge, ChargePending

    canned.add(200, TOKEN_ANSWER)
    canned.add(200, envelope(code=-1, message="결제 진행중"))
    canned.add(200, envelope({**PAID, "status": "ready"}))

    with pytest.raises(ChargePending):
        client(canned.url).charge_billing_key(
            Charge(customer_uid="uid", merchant_uid="o-1", amount=9900, name="x")
        )


def test_a_retry_refused_after_its_first_attempt_went_through_meanwhile_is_replayed(canned):
    began = datetime.now(UTC) - timedelta(seconds=30)
    canned.add(200, TOKEN_ANSWER)
    canned.add(200, envelope(PAID))  # the first attempt not in the history yet
    canned.add(200, envelope(code=1, message="checksum 불일치"))  # it has gone through since
    canned.add(200, envelope(cancelled_by(500, "asked", began + timedelta(seconds=1))))

    result = client(canned.url).cancel_payment(
        "imps_1", "asked", 500, checksum=9900, since=began.timestamp()
    )

    assert result.replayed
    assert result.payment.cancel_amount == 500
    assert canned.paths.count("/payments/cancel") == 1
