"""The PortOne V2 client over real HTTP, against canned answers: what it sends, and what it
makes of each answer (the V2 sandbox's tests cover whole flows)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest

from billing_service.gateway import (
    BillingKeyNotFound,
    CancelPending,
    CardDeclined,
    CardRejected,
    Charge,
    ChargeOutcomeUnknown,
    ChargePending,
    DuplicateMerchantUid,
    GatewayAuthFailed,
    NothingToCancel,
    PaymentNotFound,
    RequestNotSupported,
    RequestOutstanding,
)
from billing_service.gateway.call_context import IDEMPOTENCY_SEED
from billing_service.gateway.models import CardDetails

from .support import CHANNEL, SECRET, STORE, MemoryDirectory, error, key_info, make_client, payment

CARD = CardDetails(number="4000000000000000", expiry="2030-07", birth="900101", pwd_2digit="12")
CHARGE = Charge(customer_uid="uid", merchant_uid="o-1", amount=9900, name="월간 구독")


def known(directory: MemoryDirectory | None = None) -> MemoryDirectory:
    directory = directory or MemoryDirectory()
    directory.keep_billing_key("uid", "billing-key-1")
    return directory


def search_of(path: str) -> dict:
    return json.loads(parse_qs(urlsplit(path).query)["requestBody"][0])


def test_every_call_carries_the_secret_and_the_store(canned):
    canned.add(200, key_info())

    make_client(canned.url, known()).get_billing_key("uid")

    assert canned.headers[0]["authorization"] == f"PortOne {SECRET}"
    assert canned.paths == [f"/billing-keys/billing-key-1?storeId={STORE}"]


def test_an_issuance_without_an_earlier_key_searches_issues_and_reads_the_key_back(canned):
    directory = MemoryDirectory()
    canned.add(200, {"items": [], "page": {"number": 0, "size": 1, "totalCount": 0}})
    canned.add(200, {"billingKeyInfo": {"billingKey": "billing-key-1", "issuedAt": "x"}})
    canned.add(200, key_info())
    seed = IDEMPOTENCY_SEED.set("seed")
    try:
        key = make_client(canned.url, directory).issue_billing_key("uid", CARD)
    finally:
        IDEMPOTENCY_SEED.reset(seed)

    assert not key.replaced and key.card_code == "361"
    assert directory.keys == {"uid": "billing-key-1"}
    assert search_of(canned.paths[0]) == {
        "page": {"number": 0, "size": 1},
        "sort": {"by": "ISSUED_AT", "order": "DESC"},
        "filter": {
            "storeId": STORE,
            "from": "2000-01-01T00:00:00Z",
            "customerId": "uid",
            "status": ["ISSUED"],
            "version": "V2",
            "timeRangeField": "ISSUED_AT",
        },
    }
    issued = json.loads(canned.bodies[1])
    assert (issued["storeId"], issued["channelKey"], issued["customer"]) == (
        STORE,
        CHANNEL,
        {"id": "uid"},
    )
    assert canned.headers[1]["idempotency-key"].startswith('"')
    assert "idempotency-key" not in canned.headers[0]  # a search creates nothing


def test_a_second_issuance_replaces_the_first(canned):
    canned.add(200, key_info(issued_at="2026-01-01T00:00:00Z"))
    canned.add(200, {"billingKeyInfo": {"billingKey": "billing-key-2", "issuedAt": "x"}})
    canned.add(200, key_info("billing-key-2"))

    key = make_client(canned.url, known()).issue_billing_key("uid", CARD)

    assert key.replaced


def test_a_card_the_pg_refuses_is_rejected_with_its_words_and_code(canned):
    canned.add(200, {"items": [], "page": {"number": 0, "size": 1, "totalCount": 0}})
    canned.add(502, error("PG_PROVIDER", "PG refused", pgCode="F113", pgMessage="거래정지카드"))

    with pytest.raises(CardRejected) as info:
        make_client(canned.url).issue_billing_key("uid", CARD)

    assert (info.value.message, info.value.pg_code) == ("거래정지카드", "F113")


@pytest.mark.parametrize(
    "stale",
    [
        (404, error("BILLING_KEY_NOT_FOUND")),
        (200, key_info(status="DELETED")),
        (200, key_info(customer_uid="someone-else")),
    ],
)
def test_a_stale_mapping_costs_a_search_never_a_wrong_key(canned, stale):
    directory = known()
    canned.add(*stale)
    canned.add(200, {"items": [key_info("billing-key-9")], "page": {}})

    key = make_client(canned.url, directory).get_billing_key("uid")

    assert key.customer_uid == "uid"
    assert directory.keys == {"uid": "billing-key-9"}


def test_a_search_result_of_another_customer_is_not_taken(canned):
    canned.add(200, {"items": [key_info(customer_uid="other")], "page": {}})

    with pytest.raises(BillingKeyNotFound):
        make_client(canned.url).get_billing_key("uid")


def test_a_charge_goes_to_the_keys_channel_and_reads_its_payment_back(canned):
    directory = known()
    canned.add(200, key_info())
    canned.add(200, {"payment": {"pgTxId": "pg-1", "paidAt": "2026-12-01T00:00:01Z"}})
    canned.add(200, payment())

    result = make_client(canned.url, directory).charge_billing_key(CHARGE)

    assert (result.payment.status, result.replayed, result.reconciled) == ("paid", False, False)
    assert canned.paths[1] == "/payments/o-1/billing-key"
    sent = json.loads(canned.bodies[1])
    assert (sent["billingKey"], sent["channelKey"], sent["storeId"]) == (
        "billing-key-1",
        CHANNEL,
        STORE,
    )
    assert directory.payments == {"tx-1": "o-1"}


def test_a_pg_refusal_is_a_decline_once_the_payment_reads_failed(canned):
    canned.add(200, key_info())
    canned.add(502, error("PG_PROVIDER", "PG refused", pgCode="8326", pgMessage="한도초과"))
    canned.add(200, payment("FAILED", failedAt=datetime.now(UTC).isoformat()))

    with pytest.raises(CardDeclined) as info:
        make_client(canned.url, known()).charge_billing_key(CHARGE)

    assert info.value.payment is not None and info.value.payment.status == "failed"
    assert (info.value.message, info.value.pg_code) == ("[8326]카드 한도초과", "8326")


def test_a_resumed_charge_whose_decline_portone_replays_is_declined(canned):
    canned.add(200, key_info())
    canned.add(200, payment("FAILED"))  # the first attempt's decline, seen before resending
    # The same Idempotency-Key: PortOne replays its answer, the decline.
    canned.add(502, error("PG_PROVIDER", "PG refused", pgCode="8326", pgMessage="한도초과"))
    canned.add(200, payment("FAILED"))

    with pytest.raises(CardDeclined):
        make_client(canned.url, known()).charge_billing_key(CHARGE, pending=True)


def test_a_lost_answer_that_finds_only_an_earlier_attempts_decline_is_unknown(canned):
    canned.add(200, key_info())
    canned.add(200, payment("FAILED"))  # seen before sending
    canned.add(500, b"<html>oops</html>", {"Content-Type": "text/html"})
    canned.add(200, payment("FAILED"))

    with pytest.raises(ChargeOutcomeUnknown):
        make_client(canned.url, known()).charge_billing_key(CHARGE, pending=True)


def test_a_pg_refusal_whose_payment_is_not_failed_is_an_unknown_outcome(canned):
    canned.add(200, key_info())
    canned.add(502, error("PG_PROVIDER", "PG refused", pgCode="x", pgMessage="y"))
    canned.add(404, error("PAYMENT_NOT_FOUND"))

    with pytest.raises(ChargeOutcomeUnknown):
        make_client(canned.url, known()).charge_billing_key(CHARGE)


def test_an_untyped_5xx_is_reconciled_from_the_payment(canned):
    canned.add(200, key_info())
    canned.add(500, b"<html>oops</html>", {"Content-Type": "text/html"})
    canned.add(200, payment())

    result = make_client(canned.url, known()).charge_billing_key(CHARGE)

    assert result.reconciled and result.payment.status == "paid"


def test_already_paid_by_this_same_charge_is_replayed(canned):
    canned.add(200, key_info())
    canned.add(409, error("ALREADY_PAID"))
    canned.add(200, payment())

    result = make_client(canned.url, known()).charge_billing_key(CHARGE)

    assert result.replayed


@pytest.mark.parametrize(
    ("earlier", "message"),
    [
        (payment("FAILED"), "new merchant_uid"),
        (payment(customer_uid="someone-else"), "already used"),
        (payment(total=100), "already used"),
    ],
)
def test_a_taken_order_is_a_duplicate(canned, earlier, message):
    canned.add(200, key_info())
    canned.add(409, error("ALREADY_PAID"))
    canned.add(200, earlier)

    with pytest.raises(DuplicateMerchantUid) as info:
        make_client(canned.url, known()).charge_billing_key(CHARGE)

    assert message in info.value.message


def test_an_outstanding_attempt_of_the_charge_is_pending(canned):
    canned.add(200, key_info())
    canned.add(409, error("IDEMPOTENCY_OUTSTANDING_REQUEST"))
    canned.add(200, payment("PAY_PENDING"))

    with pytest.raises(ChargePending):
        make_client(canned.url, known()).charge_billing_key(CHARGE)


def test_a_currency_v2_cannot_take_sends_nothing(canned):
    with pytest.raises(RequestNotSupported):
        make_client(canned.url).charge_billing_key(
            Charge(customer_uid="uid", merchant_uid="o-1", amount=1, name="n", currency="USD")
        )
    assert canned.paths == []


def test_a_payment_is_found_by_its_transaction_id_and_remembered(canned):
    directory = MemoryDirectory()
    canned.add(200, {"items": [payment(transaction_id="tx-0"), payment()], "page": {}})
    canned.add(200, payment())

    found = make_client(canned.url, directory).get_payment("tx-1")

    assert found.imp_uid == "tx-1"
    assert directory.payments == {"tx-1": "o-1"}
    assert search_of(canned.paths[0])["filter"]["textSearch"] == [
        {"field": "TX_ID", "value": "tx-1"}
    ]


def test_an_attempt_a_later_one_replaced_is_not_shown(canned):
    directory = MemoryDirectory()
    directory.keep_payment_id("tx-1", "o-1")
    canned.add(200, payment(transaction_id="tx-2"))

    with pytest.raises(PaymentNotFound):
        make_client(canned.url, directory).get_payment("tx-1")


def paid_and_remembered() -> MemoryDirectory:
    directory = MemoryDirectory()
    directory.keep_payment_id("tx-1", "o-1")
    return directory


def test_a_cancel_sends_the_balance_it_read_as_current_cancellable_amount(canned):
    kept = []
    canned.add(200, payment(cancelled=900))
    canned.add(200, {"cancellation": {"status": "SUCCEEDED", "id": "c-1"}})
    canned.add(200, payment("PARTIAL_CANCELLED", cancelled=1400))

    result = make_client(canned.url, paid_and_remembered()).cancel_payment(
        "tx-1", "customer asked", 500, keep_checksum=kept.append
    )

    assert result.payment.cancel_amount == 1400
    assert kept == [9000]
    assert canned.paths[1] == "/payments/o-1/cancel"
    assert json.loads(canned.bodies[1]) == {
        "reason": "customer asked",
        "currentCancellableAmount": 9000,
        "amount": 500,
        "storeId": STORE,
    }


def test_an_asynchronous_cancel_is_pending(canned):
    canned.add(200, payment())
    canned.add(200, {"cancellation": {"status": "REQUESTED", "id": "c-1"}})
    canned.add(200, payment())

    with pytest.raises(CancelPending):
        make_client(canned.url, paid_and_remembered()).cancel_payment("tx-1", "r")


def test_a_cancel_against_a_moved_balance_is_nothing_to_cancel(canned):
    canned.add(200, payment())
    canned.add(409, error("CANCELLABLE_AMOUNT_CONSISTENCY_BROKEN"))
    canned.add(200, payment(cancelled=100))

    with pytest.raises(NothingToCancel):
        make_client(canned.url, paid_and_remembered()).cancel_payment("tx-1", "r")


def test_a_cancel_named_by_a_replaced_attempt_refunds_nothing(canned):
    canned.add(200, payment(transaction_id="tx-2"))

    with pytest.raises(NothingToCancel):
        make_client(canned.url, paid_and_remembered()).cancel_payment("tx-1", "r")
    assert len(canned.paths) == 1  # no cancel sent


def test_an_outstanding_cancel_is_in_progress(canned):
    canned.add(200, payment())
    canned.add(409, error("IDEMPOTENCY_OUTSTANDING_REQUEST"))

    with pytest.raises(RequestOutstanding):
        make_client(canned.url, paid_and_remembered()).cancel_payment("tx-1", "r")


def test_deleting_a_key_deletes_older_ones_a_reissuance_left(canned):
    canned.add(200, key_info())
    canned.add(200, {"deletedAt": "2026-12-01T00:00:00Z"})
    canned.add(200, {"items": [key_info("billing-key-0")], "page": {}})
    canned.add(200, {"deletedAt": "2026-12-01T00:00:00Z"})

    deleted = make_client(canned.url, known()).delete_billing_key("uid", "closed")

    assert deleted.customer_uid == "uid"
    assert canned.paths[1] == f"/billing-keys/billing-key-1?storeId={STORE}&reason=closed"
    assert canned.paths[3] == f"/billing-keys/billing-key-0?storeId={STORE}"


def test_readiness_is_a_lookup_the_secret_must_pass(canned):
    canned.add(404, error("BILLING_KEY_NOT_FOUND"))
    canned.add(401, error("UNAUTHORIZED"))

    make_client(canned.url).check_ready()
    with pytest.raises(GatewayAuthFailed):
        make_client(canned.url).check_ready()
