"""The PortOne V2 client's schedules over real HTTP, against canned answers: one V2 schedule per
charge, all or nothing, found by paymentId, listed over every key, revoked, moved."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest

from billing_service.gateway import (
    DuplicateMerchantUid,
    ScheduledCharge,
    ScheduleNotRevocable,
    ScheduleOutcomeUnknown,
    ScheduleRefused,
    SchedulesPending,
    UnknownBillingKeyRefusal,
)
from billing_service.gateway.call_context import IDEMPOTENCY_SEED
from billing_service.gateway.portone_v2.parsing import parse_schedule
from billing_service.gateway.portone_v2.schedules import PAGE_SIZE, rfc3339

from .support import (
    CHANNEL,
    STORE,
    MemoryDirectory,
    error,
    key_info,
    make_client,
    page,
    payment,
    schedule,
)

DUE = datetime(2027, 1, 1, 9, tzinfo=UTC)


def charges(count: int) -> list[ScheduledCharge]:
    return [
        ScheduledCharge(merchant_uid=f"o-{n}", amount=9900, name="월간 구독", schedule_at=DUE)
        for n in range(1, count + 1)
    ]


def known() -> MemoryDirectory:
    directory = MemoryDirectory()
    directory.keep_billing_key("uid", "billing-key-1")
    return directory


def search_of(path: str) -> dict:
    return json.loads(parse_qs(urlsplit(path).query)["requestBody"][0])


def test_each_charge_is_its_own_schedule_with_its_own_idempotency_key(canned):
    directory = known()
    canned.add(200, key_info())
    canned.add(200, {"schedule": {"id": "sch-1"}})
    canned.add(200, {"schedule": {"id": "sch-2"}})
    seed = IDEMPOTENCY_SEED.set("seed")
    try:
        result = make_client(canned.url, directory).schedule_charges("uid", charges(2))
    finally:
        IDEMPOTENCY_SEED.reset(seed)

    assert canned.paths[1:] == ["/payments/o-1/schedule", "/payments/o-2/schedule"]
    sent = json.loads(canned.bodies[1])
    assert sent["timeToPay"] == "2027-01-01T09:00:00Z"
    assert (sent["payment"]["billingKey"], sent["payment"]["storeId"]) == ("billing-key-1", STORE)
    assert (sent["payment"]["channelKey"], sent["payment"]["amount"]) == (CHANNEL, {"total": 9900})
    assert canned.headers[1]["idempotency-key"] != canned.headers[2]["idempotency-key"]
    assert directory.schedules == {"o-1": "sch-1", "o-2": "sch-2"}
    assert [s.schedule_status for s in result.schedules] == ["scheduled", "scheduled"]
    assert [s.merchant_uid for s in result.schedules] == ["o-1", "o-2"]
    assert not result.replayed and not result.reconciled


def test_a_refusal_revokes_the_charges_scheduled_before_it(canned):
    canned.add(200, key_info())
    canned.add(200, {"schedule": {"id": "sch-1"}})
    canned.add(400, error("INVALID_REQUEST", "timeToPay is too far"))
    canned.add(200, {"revokedScheduleIds": ["sch-1"], "revokedAt": "2026-12-01T00:00:00Z"})

    with pytest.raises(ScheduleRefused) as info:
        make_client(canned.url, known()).schedule_charges("uid", charges(2))

    assert info.value.message == "timeToPay is too far"
    assert canned.paths[3] == "/payment-schedules"
    assert json.loads(canned.bodies[3]) == {"scheduleIds": ["sch-1"], "storeId": STORE}
    assert "idempotency-key" not in canned.headers[3]


def test_a_charge_that_ran_meanwhile_is_named_and_the_others_revoked(canned):
    canned.add(200, key_info())
    canned.add(200, {"schedule": {"id": "sch-1"}})
    canned.add(200, {"schedule": {"id": "sch-2"}})
    canned.add(404, error("BILLING_KEY_NOT_FOUND"))
    canned.add(409, error("PAYMENT_SCHEDULE_ALREADY_PROCESSED"))
    canned.add(200, schedule("SUCCEEDED"))
    canned.add(200, schedule(schedule_id="sch-2", payment_id="o-2"))
    canned.add(200, {"revokedScheduleIds": ["sch-2"]})

    with pytest.raises(UnknownBillingKeyRefusal) as info:
        make_client(canned.url, known()).schedule_charges("uid", charges(3))

    assert "o-1, which had run already" in info.value.message
    assert json.loads(canned.bodies[7])["scheduleIds"] == ["sch-2"]


def test_a_resumed_request_counts_charges_scheduled_as_asked_as_done(canned):
    directory = known()
    directory.keep_schedule_id("o-1", "sch-1")
    canned.add(200, key_info())
    canned.add(409, error("PAYMENT_SCHEDULE_ALREADY_EXISTS"))
    canned.add(200, schedule(time_to_pay=rfc3339(DUE)))

    result = make_client(canned.url, directory).schedule_charges("uid", charges(1))

    assert result.replayed and result.schedules[0].merchant_uid == "o-1"


def test_a_payment_id_another_order_holds_is_a_duplicate(canned):
    canned.add(200, key_info())
    canned.add(409, error("ALREADY_PAID_OR_WAITING"))
    canned.add(200, page(schedule(payment_id="o-9")))  # no schedule of o-1: a paid payment

    with pytest.raises(DuplicateMerchantUid):
        make_client(canned.url, known()).schedule_charges("uid", charges(1))


def test_an_unknown_outcome_is_retryable_and_revokes_nothing(canned):
    canned.add(200, key_info())
    canned.add(200, {"schedule": {"id": "sch-1"}})
    canned.add(500, b"<html>oops</html>", {"Content-Type": "text/html"})
    canned.add(200, page())

    with pytest.raises(ScheduleOutcomeUnknown):
        make_client(canned.url, known()).schedule_charges("uid", charges(2))

    assert len(canned.paths) == 4  # nothing revoked: a retry resumes


def test_a_lost_mapping_pages_through_the_stores_schedules(canned):
    directory = MemoryDirectory()
    others = [schedule(schedule_id=f"s-{n}", payment_id=f"x-{n}") for n in range(PAGE_SIZE)]
    canned.add(200, page(*others))
    canned.add(200, page(schedule(schedule_id="sch-7")))

    found = make_client(canned.url, directory).get_schedule("o-1")

    assert found.merchant_uid == "o-1" and found.schedule_status == "scheduled"
    assert directory.schedules == {"o-1": "sch-7"}
    first, second = search_of(canned.paths[0]), search_of(canned.paths[1])
    assert first["filter"]["from"] == "2000-01-01T00:00:00Z"
    assert first["filter"]["until"] == "2100-01-01T00:00:00Z"
    assert (first["page"]["number"], second["page"]["number"]) == (0, 1)


def test_an_executed_schedule_reads_its_payment(canned):
    directory = MemoryDirectory()
    directory.keep_schedule_id("o-1", "sch-1")
    canned.add(200, schedule("FAILED"))
    canned.add(200, payment("FAILED"))

    found = make_client(canned.url, directory).get_schedule("o-1")

    assert (found.schedule_status, found.payment_status, found.imp_uid) == (
        "executed",
        "failed",
        "tx-1",
    )
    assert found.fail_reason == "[8326]카드 한도초과"


def test_a_customers_listing_covers_every_key_it_has_had(canned):
    canned.add(200, page(key_info("billing-key-2"), key_info(status="DELETED")))
    canned.add(200, page(schedule(schedule_id="b", payment_id="o-2", billing_key="billing-key-2")))
    canned.add(200, page(schedule(time_to_pay="2026-12-24T00:00:00Z")))
    start = datetime(2026, 12, 1, tzinfo=UTC)

    found, complete = make_client(canned.url).list_schedules(
        "uid", start, datetime(2027, 2, 1, tzinfo=UTC), "scheduled"
    )

    assert complete and [s.merchant_uid for s in found] == ["o-1", "o-2"]
    assert search_of(canned.paths[0])["filter"]["status"] == ["ISSUED", "DELETED"]
    listed = search_of(canned.paths[2])["filter"]
    assert listed["billingKey"] == "billing-key-1"
    assert (listed["from"], listed["until"]) == ("2026-12-01T00:00:00Z", "2027-02-01T00:00:00Z")
    assert listed["status"] == ["SCHEDULED", "STARTED"]


def test_revoking_one_schedule(canned):
    directory = MemoryDirectory()
    directory.keep_schedule_id("o-1", "sch-1")
    canned.add(200, schedule())
    canned.add(200, {"revokedScheduleIds": ["sch-1"], "revokedAt": "2026-12-03T00:00:00Z"})

    revoked = make_client(canned.url, directory).revoke_schedule("o-1")

    assert revoked.schedule_status == "revoked"
    assert revoked.revoked_at == datetime(2026, 12, 3, tzinfo=UTC)


def test_a_started_schedule_is_not_revocable(canned):
    directory = MemoryDirectory()
    directory.keep_schedule_id("o-1", "sch-1")
    canned.add(200, schedule("STARTED"))

    with pytest.raises(ScheduleNotRevocable):
        make_client(canned.url, directory).revoke_schedule("o-1")
    assert len(canned.paths) == 1


def test_revoking_a_customers_schedules_names_them_by_id(canned):
    canned.add(200, page(key_info()))
    canned.add(200, page(schedule(), schedule(schedule_id="sch-2", payment_id="o-2")))
    canned.add(200, {"revokedScheduleIds": ["sch-1", "sch-2"]})

    revoked = make_client(canned.url).revoke_customer_schedules("uid")

    assert [s.merchant_uid for s in revoked] == ["o-1", "o-2"]
    assert json.loads(canned.bodies[2])["scheduleIds"] == ["sch-1", "sch-2"]


def test_nothing_to_revoke_sends_no_revoke(canned):
    canned.add(200, page(key_info()))
    canned.add(200, page())

    assert make_client(canned.url).revoke_customer_schedules("uid") == []
    assert len(canned.paths) == 2


def test_deleting_a_key_with_schedules_is_schedules_pending(canned):
    canned.add(200, key_info())
    canned.add(409, error("PAYMENT_SCHEDULE_ALREADY_EXISTS"))

    with pytest.raises(SchedulesPending):
        make_client(canned.url, known()).delete_billing_key("uid")


def test_deleting_with_revoke_schedules_revokes_them_first(canned):
    canned.add(200, key_info())
    canned.add(200, page(key_info()))
    canned.add(200, page(schedule()))
    canned.add(200, {"revokedScheduleIds": ["sch-1"]})
    canned.add(200, {"deletedAt": "2026-12-01T00:00:00Z"})
    canned.add(200, page())

    make_client(canned.url, known()).delete_billing_key("uid", revoke_schedules=True)

    assert canned.paths[3] == "/payment-schedules"
    assert canned.paths[4].startswith("/billing-keys/billing-key-1?")


def test_replaced_keys_that_still_have_schedules_are_left(canned):
    canned.add(200, key_info("billing-key-2", issued_at="2026-12-02T00:00:00Z"))
    canned.add(200, page(key_info("billing-key-2", issued_at="2026-12-02T00:00:00Z"), key_info()))
    canned.add(409, error("PAYMENT_SCHEDULE_ALREADY_EXISTS"))

    assert make_client(canned.url).delete_replaced_keys("uid", "billing-key-2") == []


def moving(canned, answer: tuple) -> MemoryDirectory:
    """A move of one schedule from billing-key-1 to billing-key-2, PortOne answering the
    schedule again with ``answer``."""
    new = key_info("billing-key-2", issued_at="2026-12-02T00:00:00Z")
    canned.add(200, new)
    canned.add(200, page(new, key_info()))
    canned.add(200, page(schedule(customer={"id": "uid", "name": "홍길동"})))
    canned.add(200, {"revokedScheduleIds": ["sch-1"]})
    canned.add(*answer)
    return MemoryDirectory()


def test_a_move_revokes_then_schedules_again_on_the_new_key(canned):
    directory = moving(canned, (200, {"schedule": {"id": "sch-9"}}))

    result = make_client(canned.url, directory).move_schedules("uid", "billing-key-2")

    assert [s.merchant_uid for s in result.moved] == ["o-1"] and result.refused is None
    assert canned.paths[4] == "/payments/o-1/schedule"
    sent = json.loads(canned.bodies[4])
    assert sent["timeToPay"] == "2027-01-01T00:00:00Z"
    assert sent["payment"]["billingKey"] == "billing-key-2"
    assert sent["payment"]["customer"] == {"id": "uid", "name": {"full": "홍길동"}}
    assert directory.schedules == {"o-1": "sch-9"} and directory.moving == {}


def test_a_move_stops_at_the_first_refusal(canned):
    directory = moving(canned, (400, error("INVALID_REQUEST", "paymentId was revoked")))

    result = make_client(canned.url, directory).move_schedules("uid", "billing-key-2")

    assert result.moved == [] and result.reason == "paymentId was revoked"
    assert result.refused is not None and result.refused.merchant_uid == "o-1"
    assert directory.moving == {}


REVOKED_AT = "2026-12-03T00:00:00Z"


def resuming(canned, slot: str, revoked_at: str, *later: dict) -> MemoryDirectory:
    """A move to billing-key-2 finding sch-1 (o-1) on billing-key-1 revoked at ``revoked_at``,
    with ``slot`` kept for it by a move that died (``later``: o-1's later schedules)."""
    directory = MemoryDirectory()
    directory.keep_moving_schedule("uid", "sch-1", slot)
    new = key_info("billing-key-2", issued_at="2026-12-02T00:00:00Z")
    canned.add(200, new)
    canned.add(200, page(new, key_info()))
    canned.add(200, page(schedule("REVOKED", revokedAt=revoked_at)))
    canned.add(200, page(*later, schedule("REVOKED", revokedAt=revoked_at)))
    return directory


def test_a_move_that_died_after_a_revoke_schedules_that_one_again(canned):
    directory = resuming(canned, REVOKED_AT, REVOKED_AT)
    canned.add(200, {"schedule": {"id": "sch-9"}})

    result = make_client(canned.url, directory).move_schedules("uid", "billing-key-2")

    assert [s.merchant_uid for s in result.moved] == ["o-1"] and directory.moving == {}
    assert canned.paths[-1] == "/payments/o-1/schedule"


@pytest.mark.parametrize(
    ("slot", "revoked_at"),
    [
        (REVOKED_AT, "2026-12-03T00:00:05Z"),  # revoked again since, by the caller
        ("revoking", REVOKED_AT),  # the move's revoke answer was never kept
    ],
)
def test_a_resumed_move_never_undoes_a_revocation_not_its_own(canned, slot, revoked_at):
    directory = resuming(canned, slot, revoked_at)

    result = make_client(canned.url, directory).move_schedules("uid", "billing-key-2")

    assert result.moved == [] and directory.moving == {}
    assert not any(path.endswith("/schedule") for path in canned.paths)


def test_a_resumed_move_leaves_a_schedule_made_again_since(canned):
    """The move's slot outlived its move (forgetting it failed): the paymentId was scheduled
    again, then that schedule revoked by the caller; the move must not schedule it a third
    time."""
    later = schedule("REVOKED", schedule_id="sch-9", billing_key="billing-key-2")
    directory = resuming(canned, REVOKED_AT, REVOKED_AT, later)

    result = make_client(canned.url, directory).move_schedules("uid", "billing-key-2")

    assert result.moved == [] and directory.moving == {}
    assert not any(path.endswith("/schedule") for path in canned.paths)


def test_a_revoked_schedule_no_move_left_is_not_touched(canned):
    new = key_info("billing-key-2", issued_at="2026-12-02T00:00:00Z")
    canned.add(200, new)
    canned.add(200, page(new, key_info()))
    canned.add(200, page(schedule("REVOKED", revokedAt=REVOKED_AT)))

    result = make_client(canned.url).move_schedules("uid", "billing-key-2")

    assert result.moved == [] and len(canned.paths) == 3
    assert search_of(canned.paths[2])["filter"]["status"] == ["SCHEDULED", "REVOKED"]


def test_a_move_leaves_a_schedule_someone_else_revoked_first(canned):
    new = key_info("billing-key-2", issued_at="2026-12-02T00:00:00Z")
    canned.add(200, new)
    canned.add(200, page(new, key_info()))
    canned.add(200, page(schedule()))
    canned.add(409, error("PAYMENT_SCHEDULE_ALREADY_REVOKED"))
    directory = MemoryDirectory()

    result = make_client(canned.url, directory).move_schedules("uid", "billing-key-2")

    assert result.moved == [] and result.refused is None and directory.moving == {}
    assert not any(path.endswith("/schedule") for path in canned.paths)


@pytest.mark.parametrize(
    ("status", "words"),
    [
        ("SCHEDULED", "scheduled"),
        ("STARTED", "scheduled"),
        ("PENDING", "executed"),
        ("SUCCEEDED", "executed"),
        ("FAILED", "executed"),
        ("REVOKED", "revoked"),
    ],
)
def test_v2_schedule_statuses_in_v1s_words(status, words):
    assert parse_schedule(schedule(status)).schedule_status == words


def test_a_schedule_reads_as_v1s():
    found = parse_schedule(schedule("SUCCEEDED"), None)

    assert (found.customer_uid, found.merchant_uid, found.amount) == ("uid", "o-1", 9900)
    assert found.schedule_at == datetime(2027, 1, 1, tzinfo=UTC)
    assert found.executed_at == datetime(2027, 1, 1, tzinfo=UTC)
    assert found.imp_uid is None and found.revoked_at is None
