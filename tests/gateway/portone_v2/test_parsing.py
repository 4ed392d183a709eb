"""PortOne V2's answers and resources read into the service's models: pure functions."""

from __future__ import annotations

import inspect
import json
from datetime import UTC, datetime

import pytest

from billing_service.gateway import (
    CardDetails,
    Charge,
    GatewayAuthFailed,
    PaymentGateway,
    PortOneClient,
    ProviderError,
    RequestNotSupported,
    UnexpectedResponse,
)
from billing_service.gateway.call_context import IDEMPOTENCY_SEED
from billing_service.gateway.portone_v2.answer import Refusal, read_answer
from billing_service.gateway.portone_v2.billing_keys import issue_body
from billing_service.gateway.portone_v2.cards import card_company
from billing_service.gateway.portone_v2.parsing import (
    cancellation_status,
    issued_to,
    parse_billing_key,
    parse_payment,
)
from billing_service.gateway.portone_v2.payments import charge_body, refuse_unsupported
from billing_service.gateway.portone_v2.session import idempotency_key

from .support import key_info, payment


def test_the_client_has_every_operation_of_the_protocol_with_its_signature():
    for name, member in inspect.getmembers(PaymentGateway, inspect.isfunction):
        if not name.startswith("_"):
            assert inspect.signature(getattr(PortOneClient, name)) == inspect.signature(member)


@pytest.mark.parametrize(
    ("v2", "ours"),
    [
        ("READY", "ready"),
        ("PAY_PENDING", "ready"),
        ("PAID", "paid"),
        ("PARTIAL_CANCELLED", "paid"),
        ("FAILED", "failed"),
        ("CANCELLED", "cancelled"),
        ("SOMETHING_NEW", "ready"),  # not settled as far as we know: followed up
    ],
)
def test_statuses_read_in_the_services_words(v2, ours):
    assert parse_payment(payment(v2)).status == ours


@pytest.mark.parametrize(
    ("issuer", "name", "expected"),
    [
        ("BC_CARD", "BC 바로카드", ("BC카드", "361")),
        ("KOOKMIN_CARD", None, ("KB국민카드", "381")),
        ("WOORI_CARD", None, ("우리카드", "041")),
        ("TOSS_BANK", "토스뱅크카드", ("토스뱅크카드", None)),  # unknown to V1: its product name
        (None, None, (None, None)),
    ],
)
def test_issuers_are_named_and_coded_as_v1_does(issuer, name, expected):
    assert card_company(issuer, name) == expected


def test_a_billing_key_reads_as_v1s():
    key = parse_billing_key(key_info())

    assert key.customer_uid == "uid"
    assert (key.pg_provider, key.pg_id) == ("nice", "nictest04m")
    assert (key.card_name, key.card_code) == ("BC카드", "361")
    assert (key.card_number, key.card_type) == ("360000******0012", "credit")
    assert (key.customer_name, key.customer_email, key.customer_tel) == (
        "홍길동",
        "a@example.com",
        None,
    )
    assert key.issued_at == datetime(2026, 12, 1, tzinfo=UTC)
    assert key.provider == "portone_v2"
    assert not key.replaced


def test_a_key_that_replaced_another_reads_replaced():
    first = datetime(2026, 1, 1, tzinfo=UTC)
    key = parse_billing_key(key_info(), first_issued=first)
    assert key.replaced
    assert key.issued_at == first


def test_a_key_is_used_only_when_issued_to_that_customer():
    assert issued_to(key_info(), "uid")
    assert not issued_to(key_info(customer_uid="other"), "uid")
    assert not issued_to(key_info(status="DELETED"), "uid")
    assert not issued_to(None, "uid")


def test_a_payment_reads_as_v1s():
    paid = parse_payment(
        payment(
            "PARTIAL_CANCELLED",
            cancelled=1000,
            cancellations=[
                {
                    "status": "SUCCEEDED",
                    "id": "c-1",
                    "totalAmount": 1000,
                    "reason": "r",
                    "cancelledAt": "2026-12-02T00:00:00.250Z",
                },
                {"status": "REQUESTED", "id": "c-2", "totalAmount": 500, "reason": "r"},
            ],
        )
    )

    assert (paid.imp_uid, paid.merchant_uid, paid.customer_uid) == ("tx-1", "o-1", "uid")
    assert (paid.status, paid.amount, paid.cancel_amount, paid.balance) == (
        "paid",
        9900,
        1000,
        8900,
    )
    assert (paid.card_name, paid.card_number, paid.apply_num) == (
        "KB국민카드",
        "530000******0019",
        "30001234",
    )
    assert (paid.pg_provider, paid.sandbox, paid.provider) == ("nice", True, "portone_v2")
    assert paid.customer_uid_usage == "payment"
    assert paid.by_billing_key
    # Only the cancels that went through, as V1's history lists them.
    assert [c.cancellation_id for c in paid.cancel_history] == ["c-1"]


def test_a_payment_not_made_with_a_billing_key_belongs_to_no_customer():
    assert parse_payment(payment(billing_key=None)).customer_uid is None


def test_a_failed_payment_keeps_the_pgs_words_and_code():
    failed = parse_payment(payment("FAILED"))
    assert (failed.fail_reason, failed.pg_code) == ("[8326]카드 한도초과", "8326")


@pytest.mark.parametrize(
    "broken",
    [
        {"transactionId": None},
        {"amount": {"total": "9900"}},
        {"paidAt": "yesterday"},
        {"paidAt": "2026-12-01T00:00:00"},  # no offset
        {"cancellations": {"not": "a list"}},
    ],
)
def test_a_malformed_payment_is_an_unexpected_response(broken):
    with pytest.raises(UnexpectedResponse):
        parse_payment(payment(**broken))


def test_a_2xx_answer_is_its_resource():
    assert read_answer(200, b'{"payment": {"pgTxId": "x"}}') == {"payment": {"pgTxId": "x"}}


@pytest.mark.parametrize("raw", [b"<html>ok</html>", b"[]", b""])
def test_a_2xx_answer_that_is_not_a_json_object_is_unexpected(raw):
    with pytest.raises(UnexpectedResponse):
        read_answer(200, raw)


def test_a_typed_refusal_keeps_its_type_and_the_pgs_words():
    raw = json.dumps(
        {"type": "PG_PROVIDER", "message": "PG refused", "pgCode": "8326", "pgMessage": "한도초과"}
    ).encode()
    with pytest.raises(Refusal) as info:
        read_answer(502, raw)
    assert (info.value.error_type, info.value.http_status) == ("PG_PROVIDER", 502)
    assert (info.value.pg_code, info.value.words) == ("8326", "한도초과")


@pytest.mark.parametrize(
    ("status", "raw", "error"),
    [
        (401, b'{"type": "UNAUTHORIZED", "message": "no"}', GatewayAuthFailed),
        (403, b'{"type": "FORBIDDEN", "message": "not your store"}', GatewayAuthFailed),
        (500, b'{"type": "INTERNAL", "message": "oops"}', UnexpectedResponse),  # untyped 5xx
        (503, b"<html>maintenance</html>", UnexpectedResponse),
        (502, b"<html>bad gateway</html>", UnexpectedResponse),  # a proxy's, not PortOne's
        (400, b"<html>bad request</html>", UnexpectedResponse),
        (302, b"", UnexpectedResponse),
    ],
)
def test_what_is_not_a_typed_refusal_is_no_refusal(status, raw, error):
    with pytest.raises(error) as info:
        read_answer(status, raw)
    assert not isinstance(info.value, Refusal)


def test_a_bare_404_still_means_not_found():
    with pytest.raises(ProviderError) as info:
        read_answer(404, b"Not Found")
    assert info.value.http_status == 404


def test_each_call_has_its_own_idempotency_key_from_the_requests_seed():
    assert idempotency_key("POST", "/billing-keys") is None
    token = IDEMPOTENCY_SEED.set("f00d")
    try:
        issue = idempotency_key("POST", "/billing-keys")
        charge = idempotency_key("POST", "/payments/o-1/billing-key")
        assert issue == idempotency_key("POST", "/billing-keys")  # resumed: the same again
    finally:
        IDEMPOTENCY_SEED.reset(token)
    assert issue is not None and charge is not None and issue != charge
    # RFC 8941 quoted string of 16-256 ASCII characters; never the seed itself.
    assert issue.startswith('"') and issue.endswith('"') and 16 <= len(issue) - 2 <= 256
    assert "f00d" not in issue


def test_an_issuance_body_speaks_v2():
    card = CardDetails(number="4000000000000000", expiry="2030-07", birth="900101", pwd_2digit="12")
    body = issue_body(
        "uid",
        card,
        {"customer_id": "crm-7", "customer_name": "홍길동", "customer_tel": "010"},
        "ch",
    )
    assert body == {
        "method": {
            "card": {
                "credential": {
                    "number": "4000000000000000",
                    "expiryYear": "30",
                    "expiryMonth": "07",
                    "birthOrBusinessRegistrationNumber": "900101",
                    "passwordTwoDigits": "12",
                }
            }
        },
        "customer": {"id": "uid", "name": {"full": "홍길동"}, "phoneNumber": "010"},
        "channelKey": "ch",
        "customData": '{"customer_id": "crm-7"}',
    }


def test_an_issuance_goes_through_the_requests_channel_key_first():
    card = CardDetails(number="4000000000000000", expiry="2030-07", birth="900101", pwd_2digit="12")

    body = issue_body("uid", card, {"channel_key": "channel-of-the-request"}, "configured")

    assert body["channelKey"] == "channel-of-the-request"


def test_a_charge_body_speaks_v2_and_is_the_same_every_time():
    charge = Charge(
        customer_uid="uid",
        merchant_uid="o-1",
        amount=9900,
        name="월간 구독",
        tax_free=900,
        card_quota=3,
        buyer={"buyer_email": "a@example.com"},
        custom_data={"plan": "monthly"},
    )
    body = charge_body(charge, "billing-key-1", "ch")
    assert body == {
        "billingKey": "billing-key-1",
        "orderName": "월간 구독",
        "amount": {"total": 9900, "taxFree": 900},
        "currency": "KRW",
        "customer": {"id": "uid", "email": "a@example.com"},
        "channelKey": "ch",
        "installmentMonth": 3,
        "customData": '{"plan": "monthly"}',
    }
    assert json.dumps(charge_body(charge, "billing-key-1", "ch")) == json.dumps(body)


@pytest.mark.parametrize(
    ("extra", "field"),
    [({"currency": "USD"}, "currency"), ({"notice_url": "https://x"}, "notice_url")],
)
def test_what_v2_cannot_take_is_refused_by_field(extra, field):
    charge = Charge(customer_uid="uid", merchant_uid="o-1", amount=1, name="n", **extra)
    with pytest.raises(RequestNotSupported) as info:
        refuse_unsupported(charge)
    assert info.value.field == field
    assert info.value.request_sent is False


def test_a_cancellations_status_is_read():
    assert cancellation_status({"cancellation": {"status": "REQUESTED"}}) == "REQUESTED"
    with pytest.raises(UnexpectedResponse):
        cancellation_status({"cancellation": {}})
