"""The JSON log lines stay one per line whatever text they carry."""

from __future__ import annotations

import json
import logging

from billing_service.observability import logs
from billing_service.observability.logs import JsonFormatter


def test_unicode_line_breaks_cannot_split_a_log_line():
    text = "a\u2028b\u2029c\x85d\ne"
    record = logging.LogRecord("billing_service", logging.INFO, "", 0, text, (), None)

    line = JsonFormatter().format(record)

    assert len(line.splitlines()) == 1
    assert json.loads(line)["message"] == text


def _line(message: str = "m", **fields: object) -> dict:
    record = logging.LogRecord("billing_service", logging.INFO, "", 0, message, (), None)
    record.fields = fields
    return json.loads(JsonFormatter().format(record))


def test_card_numbers_are_masked_in_every_field_whatever_its_name():
    entry = _line(
        "lookup of 4242424242424242",
        customer_uid="4242-4242-4242-4242",
        note="card 5555 5555 5555 4444 2031",
        amount=4242424242424242,
        nested={"ids": ["378282246310005"]},
    )

    assert entry["message"] == "lookup of [masked]"
    assert entry["customer_uid"] == "[masked]"
    assert entry["note"] == "card [masked] 2031"
    assert entry["amount"] == "[masked]"
    assert entry["nested"] == {"ids": ["[masked]"]}


def test_card_numbers_grouped_by_dots_or_underscores_are_masked():
    entry = _line(
        "GET /subscriptions/billing-keys/4242.4242.4242.4242 404",
        customer_uid="4242_4242_4242_4242",
        other="cust_5555.5555_5555-4444",
    )

    assert entry["message"] == "GET /subscriptions/billing-keys/[masked] 404"
    assert entry["customer_uid"] == "[masked]"
    assert entry["other"] == "cust_[masked]"


def test_a_card_number_next_to_a_status_is_masked_and_the_status_kept():
    assert _line("POST /subscriptions/issue-billing/4242424242424242 404")["message"] == (
        "POST /subscriptions/issue-billing/[masked] 404"
    )


def test_order_ids_and_payment_ids_are_not_masked():
    entry = _line(
        "GET /subscriptions/payments/imps_410026135413 200",
        merchant_uid="merchant_1764230400004",
        imp_uid="imps_410026135413",
        time_like="2026-12-07T09:00:00",
    )

    assert entry["message"] == "GET /subscriptions/payments/imps_410026135413 200"
    assert entry["merchant_uid"] == "merchant_1764230400004"
    assert entry["imp_uid"] == "imps_410026135413"


def test_a_registered_secret_never_appears():
    token = "log-test-webhook-token-8d1c2f"
    logs.redact(token, "<token>")

    entry = _line(f"POST /webhooks/iamport/{token} 200", path=f"/webhooks/iamport/{token}")

    assert entry["message"] == "POST /webhooks/iamport/<token> 200"
    assert entry["path"] == "/webhooks/iamport/<token>"
