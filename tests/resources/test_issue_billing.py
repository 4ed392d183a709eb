"""POST /subscriptions/issue-billing: happy paths and the validation table, against the sandbox."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import urlencode

import pytest

from ..support import CALLER_KEY, CORPORATE_CARD, TOKEN_ROUTE, V1, VALID_BODY, v1_only

pytestmark = pytest.mark.both_providers

URL = "/subscriptions/issue-billing"
SEOUL = timezone(timedelta(hours=9))
# The card fields of PortOne V2's credential, as the V2 sandbox's call log shows their shapes.
V2_SHAPES = {
    "number": "dddddddddddddddd",
    "expiryYear": "dd",
    "expiryMonth": "dd",
    "birthOrBusinessRegistrationNumber": "dddddd",
    "passwordTwoDigits": "dd",
}


def test_issues_a_key_from_json(client, sandbox):
    resp = client.post(URL, json={**VALID_BODY, "customer_name": "홍길동"})

    assert resp.status_code == 200
    body = resp.get_json()
    assert body["status"] == "success"
    assert body["message"] == "Billing has successfully issued"
    key = body["billing_key"]
    assert key["customer_uid"] == "gildong_0001_1234"
    assert key["card_number"] == "424242******4242"
    assert key["card_type"] == "credit"
    assert key["card_name"] == "현대카드"
    # The default channel of each sandbox: I'mport's `nice`, PortOne V2's NICE_V2 channel.
    assert key["pg_provider"] == "nice"  # V2's NICE_V2 by V1's name
    assert key["customer_name"] == "홍길동"
    assert key["replaced"] is False
    issued = datetime.fromisoformat(key["issued_at"])
    assert issued.utcoffset() == timedelta(0)
    assert abs(issued - datetime.now(UTC)) < timedelta(minutes=1)
    assert resp.headers["Cache-Control"] == "no-store"
    if sandbox.provider == V1:  # V2 has no token call: every call carries the secret
        assert sandbox.count(TOKEN_ROUTE) == 1
    assert sandbox.count(sandbox.route("issue")) == 1


def test_issues_a_key_from_the_seed_html_form(client):
    # The seed's form posts exactly these five fields, form-encoded.
    resp = client.post(URL, data={**VALID_BODY, "card_number": "4242424242424242"})

    assert resp.status_code == 200
    assert resp.get_json()["billing_key"]["card_number"] == "424242******4242"


def test_blank_optional_form_fields_count_as_absent(client):
    resp = client.post(URL, data={**VALID_BODY, "customer_name": "", "customer_email": ""})

    assert resp.status_code == 200
    assert resp.get_json()["billing_key"]["customer_email"] is None


def test_forwards_card_in_imports_documented_formats(client, sandbox):
    resp = client.post(
        URL, json={**VALID_BODY, "card_number": "4242 4242 4242 4242", "expiry": "203107"}
    )

    assert resp.status_code == 200
    [call] = sandbox.calls(sandbox.route("issue"))
    if sandbox.provider == V1:
        assert call["shapes"] == {
            "card_number": "dddd-dddd-dddd-dddd",
            "expiry": "dddd-dd",
            "birth": "dddddd",
            "pwd_2digit": "dd",
        }
        assert call["authorization"] == "bearer"
    else:  # V2's credential: digits only, two-digit year and month; the secret on the call
        assert call["shapes"] == V2_SHAPES
        assert call["authorization"] == "portone"


def test_corporate_card_needs_no_password(client, sandbox):
    body = {**VALID_BODY, "card_number": CORPORATE_CARD, "birth": "123-45-67890"}
    del body["pwd_2digit"]

    resp = client.post(URL, json=body)

    assert resp.status_code == 200
    [call] = sandbox.calls(sandbox.route("issue"))
    if sandbox.provider == V1:
        assert call["shapes"]["birth"] == "dddddddddd"
        assert "pwd_2digit" not in call["shapes"]
    else:
        assert call["shapes"]["birthOrBusinessRegistrationNumber"] == "dddddddddd"
        assert "passwordTwoDigits" not in call["shapes"]


def test_reissuing_under_the_same_customer_uid_replaces_the_key(client, sandbox):
    assert client.post(URL, json=VALID_BODY).get_json()["billing_key"]["replaced"] is False
    sandbox.admin("POST", "clock", advance=90)

    second = client.post(URL, json={**VALID_BODY, "card_number": CORPORATE_CARD})

    key = second.get_json()["billing_key"]
    assert key["replaced"] is True
    assert key["card_number"] == "555555******4444"
    assert datetime.fromisoformat(key["updated_at"]) > datetime.fromisoformat(key["issued_at"])


def test_optional_customer_fields_are_forwarded(client, provider):
    v1_only(provider, "`pg` names an I'mport PG (V2 takes a channel_key)")
    resp = client.post(
        URL,
        json={
            **VALID_BODY,
            "pg": "kcp.A52CY",
            "customer_id": "member-77",
            "customer_name": "홍길동",
            "customer_tel": "010-1234-5678",
            "customer_email": "gildong@example.com",
            "customer_addr": "서울특별시 강남구",
            "customer_postcode": "06236",
        },
    )

    key = resp.get_json()["billing_key"]
    assert (key["pg_provider"], key["pg_id"]) == ("kcp", "A52CY")
    assert key["customer_tel"] == "010-1234-5678"
    assert key["customer_email"] == "gildong@example.com"


def _this_month(delta_months: int = 0) -> tuple[int, int]:
    today = datetime.now(SEOUL).date()
    months = today.year * 12 + today.month - 1 + delta_months
    return months // 12, months % 12 + 1


def _expiry(delta_months: int, fmt: str = "{y:04d}-{m:02d}") -> str:
    y, m = _this_month(delta_months)
    return fmt.format(y=y, m=m)


ACCEPTED = [
    ("card_number", "4242424242424242"),
    ("card_number", "4242-4242-4242-4242"),
    ("card_number", "4242 4242 4242 4242"),
    ("card_number", "378282246310005"),  # 15 digits (Amex test number)
    ("card_number", "30569309025904"),  # 14 digits (Diners test number)
    ("expiry", _expiry(0)),
    ("expiry", _expiry(0, "{y:04d}{m:02d}")),
    ("birth", "000229"),  # 29 Feb 2000 is real
    ("birth", "991231"),
    ("customer_uid", "a"),
    ("customer_uid", "A.b_c-9" + "x" * 73),  # 80 characters
]


@pytest.mark.parametrize(("field", "value"), ACCEPTED)
def test_accepts(client, field, value):
    resp = client.post(URL, json={**VALID_BODY, field: value})

    assert resp.status_code == 200, resp.get_json()


REJECTED = [
    ("card_number", "4242424242424241", "check digit"),
    ("card_number", "4242-4242-4242", "14 to 16"),  # 12 digits
    ("card_number", "42424242424242424", "14 to 16"),  # 17 digits
    ("card_number", "4242_4242_4242_4242", "14 to 16"),
    ("card_number", "4242--4242-4242-4242", "14 to 16"),
    ("card_number", "٤٢٤٢٤٢٤٢٤٢٤٢٤٢٤٢", "14 to 16"),  # non-ASCII digits
    ("card_number", 4242424242424242, "not a valid string"),
    ("expiry", _expiry(-1), "expired"),
    ("expiry", "2030-13", "month"),
    ("expiry", "2030-00", "month"),
    ("expiry", "30-12", "YYYY-MM"),
    ("expiry", "2030/12", "YYYY-MM"),
    ("birth", "880230", "YYMMDD"),
    ("birth", "010229", "YYMMDD"),  # 2001 and 1901 were not leap years
    ("birth", "8801011", "YYMMDD"),
    ("birth", "12345678901", "YYMMDD"),
    ("pwd_2digit", "1", "2 digits"),
    ("pwd_2digit", "123", "2 digits"),
    ("pwd_2digit", "ab", "2 digits"),
    ("pwd_2digit", "12\n", "2 digits"),
    ("customer_uid", "x" * 81, "Length"),
    ("customer_uid", "has space", "letters"),
    ("customer_uid", "slash/uid", "letters"),
    ("customer_uid", ".", "not only dots"),
    ("customer_uid", "..", "not only dots"),
    ("customer_name", "가" * 21, "Length"),
    ("customer_name", "a\x00b", "control characters"),
    ("customer_addr", "서울\ud800", "invalid Unicode"),
    ("customer_tel", "010\n1234", "control characters"),
    ("customer_tel", "0" * 21, "Length"),
    ("customer_email", "not-an-email", "email"),
    ("customer_email", "", "email"),  # in JSON an empty string is a value, not absent
    ("customer_name", "홍\x9b길동", "control characters"),  # C1
    ("customer_email", "a" * 190 + "@example.com", "Length"),
    ("customer_addr", "a" * 201, "Length"),
    ("customer_postcode", "123456789", "Length"),
]


@pytest.mark.parametrize(("field", "value", "hint"), REJECTED)
@pytest.mark.provider_neutral
def test_rejects(client, sandbox, field, value, hint):
    # json.dumps escapes lone surrogates, as any JSON encoder may.
    body = json.dumps({**VALID_BODY, field: value})
    resp = client.post(URL, data=body, content_type="application/json")

    assert resp.status_code == 422
    body = resp.get_json()
    assert body["code"] == "invalid_request"
    assert list(body["errors"]) == [field]
    assert hint.lower() in " ".join(body["errors"][field]).lower()
    if len(str(value)) >= 4:
        assert str(value) not in resp.get_data(as_text=True)
    assert sandbox.count(sandbox.route("issue")) == 0


@pytest.mark.parametrize("field", ["card_number", "expiry", "birth", "customer_uid"])
@pytest.mark.provider_neutral
def test_requires(client, field):
    body = {k: v for k, v in VALID_BODY.items() if k != field}

    resp = client.post(URL, json=body)

    assert resp.status_code == 422
    assert resp.get_json()["errors"] == {field: ["Missing data for required field."]}


@pytest.mark.provider_neutral
def test_requires_password_with_a_birth_date(client):
    body = {k: v for k, v in VALID_BODY.items() if k != "pwd_2digit"}

    resp = client.post(URL, json=body)

    assert resp.status_code == 422
    assert list(resp.get_json()["errors"]) == ["pwd_2digit"]


@pytest.mark.provider_neutral
def test_unknown_fields_are_rejected(client, sandbox):
    resp = client.post(URL, json={**VALID_BODY, "cvc": "123"})

    assert resp.status_code == 422
    assert resp.get_json()["errors"] == {"cvc": ["Unknown field."]}
    assert sandbox.count(sandbox.route("issue")) == 0


@pytest.mark.provider_neutral
def test_a_body_that_is_not_an_object_is_rejected(client):
    resp = client.post(URL, json=[VALID_BODY])

    assert resp.status_code == 422
    assert resp.get_json()["code"] == "invalid_request"


def test_concurrent_requests_on_a_cold_cache_make_one_token_call(app, sandbox):
    v1_only(sandbox.provider, "I'mport's access token (V2 sends its secret on every call)")
    sandbox.admin("POST", "config", token_latency_ms=300)
    barrier = threading.Barrier(12)
    statuses: list[int] = []

    def issue(i: int) -> None:
        client = app.test_client()
        barrier.wait()
        resp = client.post(
            URL,
            json={**VALID_BODY, "customer_uid": f"uid-{i}"},
            headers={"Authorization": f"Bearer {CALLER_KEY}"},
        )
        statuses.append(resp.status_code)

    threads = [threading.Thread(target=issue, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert statuses == [200] * 12
    assert sandbox.count(TOKEN_ROUTE) == 1
    assert sandbox.count(sandbox.route("issue")) == 12


@pytest.mark.provider_neutral
def test_a_form_field_sent_twice_is_rejected(client, sandbox):
    form = urlencode([*VALID_BODY.items(), ("card_number", "5555555555554444")])

    resp = client.post(URL, data=form, content_type="application/x-www-form-urlencoded")

    assert resp.status_code == 422
    assert resp.get_json()["errors"] == {"card_number": ["Sent more than once."]}
    assert sandbox.count(sandbox.route("issue")) == 0
