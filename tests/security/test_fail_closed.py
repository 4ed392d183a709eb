"""Fail closed (issue 16): sandbox answers are marked as such, card numbers are refused as ids
(and still found when they name something that exists), and a rotated fingerprint key still
finds the idempotency records made under the previous one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import requests

from billing_service import create_app
from billing_service.api.fields import NOT_A_CARD_NUMBER, holds_card_number
from billing_service.gateway.fields import mask_card_number

from ..sandbox import helpers
from ..support import (
    CALLER_KEY,
    FINGERPRINT_KEY,
    SANDBOX_MODE,
    VALID_BODY,
    service_env,
)

ISSUE = "/subscriptions/issue-billing"
CHARGES = "/subscriptions/payments"
SCHEDULES = "/subscriptions/schedules"
AUTH = {"Authorization": f"Bearer {CALLER_KEY}"}
UID = VALID_BODY["customer_uid"]
CHARGE = {"customer_uid": UID, "merchant_uid": "order-1", "amount": 9900, "name": "구독"}


# --- X-Billing-Sandbox -------------------------------------------------------------------------


@pytest.fixture
def sandbox_client(sandbox, tmp_path):
    app = create_app(
        {**SANDBOX_MODE, "IAMPORT_API_URL": sandbox.url, "BILLING_DATA_DIR": str(tmp_path)}
    )
    return app.test_client()


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/healthz", 200),
        ("GET", "/metrics", 200),
        ("GET", "/no/such/path", 404),
        ("DELETE", "/healthz", 405),
        ("POST", ISSUE, 422),
        ("GET", "/openapi.json", 200),
    ],
)
def test_every_sandbox_answer_says_so(sandbox_client, method, path, status):
    resp = sandbox_client.open(path, method=method, json={} if method == "POST" else None)

    assert resp.status_code == status
    assert resp.headers["X-Billing-Sandbox"] == "true"


def test_a_sandbox_payment_answer_says_so(sandbox_client):
    assert sandbox_client.post(ISSUE, json=VALID_BODY).status_code == 200
    resp = sandbox_client.post(CHARGES, json=CHARGE)

    assert resp.status_code == 200
    assert resp.headers["X-Billing-Sandbox"] == "true"


def test_real_mode_answers_carry_no_sandbox_header(client):
    assert "X-Billing-Sandbox" not in client.get("/healthz").headers
    assert "X-Billing-Sandbox" not in client.get("/no/such/path").headers


# --- card numbers as ids -----------------------------------------------------------------------

CARD_LIKE_IDS = [
    "4242424242424242",  # Visa
    "cust_4242-4242-4242-4242",  # dashes ignored
    "5555555555554444",  # Mastercard 51-55
    "2223003122003222",  # Mastercard 2221-2720
    "378282246310005",  # American Express
    "3530111333300000",  # JCB
    "30569309025904",  # Diners 300-305
    "6011111111111117",  # Discover
    "9410123412341237",  # a Korean domestic card
    "order_4111111111111111_x",
    "4242.4242.4242.4242",  # dots ignored
    "4242_4242_4242_4242",  # underscores ignored
    "cust_5555.5555_5555-4444",
]
NOT_CARD_IDS = [
    "merchant_1764230400004",  # epoch milliseconds: prefix 1
    "order_20261127_0001",
    "imps_410026135413",  # 12 digits
    "4242424242424241",  # check digit wrong
    "12345678901234567890123",  # 23 digits: no card is that long
    "8242424242424245",  # Luhn-valid, no network starts with 8
]


@pytest.mark.parametrize("uid", CARD_LIKE_IDS)
def test_the_card_rule_recognises_card_numbers(uid):
    assert holds_card_number(uid)


@pytest.mark.parametrize("uid", NOT_CARD_IDS)
def test_the_card_rule_leaves_order_ids_alone(uid):
    assert not holds_card_number(uid)


@pytest.mark.parametrize("uid", [*CARD_LIKE_IDS[:3], "4242.4242.4242.4242", "4242_4242_4242_4242"])
def test_a_card_number_as_customer_uid_is_refused_at_issuance(client, sandbox, uid):
    resp = client.post(ISSUE, json={**VALID_BODY, "customer_uid": uid})

    assert resp.status_code == 422
    assert set(resp.get_json()["errors"]) == {"customer_uid"}
    assert uid not in resp.get_data(as_text=True)
    assert sandbox.count("POST /subscribe/customers/{customer_uid}") == 0


@pytest.mark.parametrize("field", ["customer_uid", "merchant_uid"])
def test_a_card_number_as_an_id_of_a_charge_is_refused(client, sandbox, field):
    resp = client.post(CHARGES, json={**CHARGE, field: "4242-4242-4242-4242"})

    assert resp.status_code == 422
    assert set(resp.get_json()["errors"]) == {field}
    assert sandbox.count("POST /subscribe/payments/again") == 0


@pytest.mark.parametrize(
    ("field", "text"),
    [
        ("name", "구독 4242.4242.4242.4242"),
        ("buyer_name", "4242424242424242"),  # 16 characters at most
        ("buyer_tel", "3782822463.10005"),  # American Express, 16 characters at most
        ("buyer_addr", "Seoul, card 5555 5555 5555 4444"),
        ("buyer_email", "4242.4242.4242.4242@example.com"),
    ],
)
def test_a_card_number_in_a_charges_free_text_is_refused(client, sandbox, field, text):
    # Kept in the idempotency record and sent in events with the payment: card data at rest.
    resp = client.post(CHARGES, json={**CHARGE, field: text})

    assert resp.status_code == 422
    assert set(resp.get_json()["errors"]) == {field}
    assert text not in resp.get_data(as_text=True)
    assert sandbox.count("POST /subscribe/payments/again") == 0


@pytest.mark.parametrize("field", ["customer_name", "customer_tel", "customer_addr"])
def test_a_card_number_in_an_issuances_customer_details_is_refused(client, sandbox, field):
    # The key's answer, customer details included, is kept in the idempotency record.
    resp = client.post(ISSUE, json={**VALID_BODY, field: "4242_4242_4242_4242"})

    assert resp.status_code == 422
    assert set(resp.get_json()["errors"]) == {field}
    assert sandbox.count("POST /subscribe/customers/{customer_uid}") == 0


def test_a_card_number_in_a_cancel_reason_is_refused(client, sandbox):
    reason = {"reason": "4242.4242.4242.4242"}

    resp = client.post(f"{CHARGES}/imps_410026135413/cancel", json=reason)

    assert resp.status_code == 422
    assert set(resp.get_json()["errors"]) == {"reason"}
    assert sandbox.count("POST /payments/cancel") == 0


def test_a_card_number_in_a_scheduled_name_is_refused(client, sandbox):
    due = (datetime.now(UTC) + timedelta(days=30)).isoformat(timespec="seconds")
    schedule = {"merchant_uid": "order-2", "schedule_at": due, "amount": 9900}
    body = {"customer_uid": UID, "schedules": [{**schedule, "name": "4242_4242_4242_4242"}]}

    resp = client.post(SCHEDULES, json=body)

    assert resp.status_code == 422
    assert resp.get_json()["errors"] == {"schedules": [{"0": {"name": [NOT_A_CARD_NUMBER]}}]}
    assert sandbox.count("POST /subscribe/payments/schedule") == 0


def test_free_text_without_a_card_number_is_kept(client):
    assert client.post(ISSUE, json=VALID_BODY).status_code == 200
    text = {"name": "구독 2026.12 order_20261127_0001", "buyer_tel": "010-1234-5678"}

    resp = client.post(CHARGES, json={**CHARGE, **text})

    assert resp.status_code == 200


def test_a_card_number_as_a_scheduled_merchant_uid_is_refused_where_it_is(client):
    due = (datetime.now(UTC) + timedelta(days=30)).isoformat(timespec="seconds")
    charge = {"schedule_at": due, "amount": 9900, "name": "구독"}
    body = {
        "customer_uid": UID,
        "schedules": [{**charge, "merchant_uid": "5555555555554444"}],
    }

    resp = client.post(SCHEDULES, json=body)

    assert resp.status_code == 422
    # Nested as every validation error of a schedule is.
    assert resp.get_json()["errors"] == {
        "schedules": [{"0": {"merchant_uid": [NOT_A_CARD_NUMBER]}}]
    }


def test_epoch_millisecond_order_ids_stay_valid(client):
    assert client.post(ISSUE, json=VALID_BODY).status_code == 200
    resp = client.post(CHARGES, json={**CHARGE, "merchant_uid": "merchant_1764230400004"})

    assert resp.status_code == 200
    assert resp.get_json()["payment"]["merchant_uid"] == "merchant_1764230400004"


def test_an_existing_card_like_id_can_still_be_looked_up_and_deleted(client, sandbox):
    # Made before the rule existed: straight at I'mport (the sandbox).
    http = requests.Session()
    helpers.issue(http, sandbox, "4242424242424242", helpers.token(http, sandbox))

    looked_up = client.get("/subscriptions/billing-keys/4242424242424242")
    deleted = client.delete("/subscriptions/billing-keys/4242424242424242")

    assert looked_up.status_code == 200
    assert looked_up.get_json()["billing_key"]["customer_uid"] == "4242424242424242"
    assert deleted.status_code == 200


# --- what is kept of a card ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "passed_on"),
    [
        ("424242******4242", "424242******4242"),  # I'mport's mask: first six, last four
        ("4242424242**4242", "************4242"),  # more than ten digits shown: masked again
        ("4242424242424242", "************4242"),  # not masked at all
    ],
)
def test_a_kept_card_number_never_shows_more_than_ten_digits(given, passed_on):
    # What answers, idempotency records and events keep (PCI DSS 3.4.1: first six, last four).
    assert mask_card_number(given) == passed_on


# --- rotating the fingerprint key --------------------------------------------------------------


def test_a_retry_across_a_key_rotation_gets_its_first_answer(sandbox, tmp_path):
    env = service_env(sandbox.url, BILLING_DATA_DIR=str(tmp_path))
    keyed = {**AUTH, "Idempotency-Key": "charge-order-1"}
    before = create_app(env).test_client()
    assert before.post(ISSUE, json=VALID_BODY, headers=AUTH).status_code == 200
    first = before.post(CHARGES, json=CHARGE, headers=keyed)
    assert first.status_code == 200

    rotated = create_app(
        {
            **env,
            "BILLING_CARD_FINGERPRINT_KEY": "rotated-card-fingerprint-key-9876543210",
            "BILLING_CARD_FINGERPRINT_KEY_PREVIOUS": FINGERPRINT_KEY,
        }
    ).test_client()
    again = rotated.post(CHARGES, json=CHARGE, headers=keyed)
    reused = rotated.post(CHARGES, json={**CHARGE, "amount": 1}, headers=keyed)

    assert again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json()
    assert sandbox.count("POST /subscribe/payments/again") == 1
    # The record is the previous key's: another request under that key is still refused.
    assert reused.status_code == 422
    assert reused.get_json()["code"] == "idempotency_key_reused"
