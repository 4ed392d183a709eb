"""What I'mport refuses is answered in its own words; what a lookup does not find, in the fixed
text of the error registry (I'mport's would repeat the id asked for). Through the app against
each provider's sandbox (under PortOne V2 a customer_uid without a key is refused before any
call that would move money, in the fixed text)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from billing_service.api.error_kinds import ERRORS

from ..support import V1, v1_only

pytestmark = pytest.mark.both_providers

NOBODY = "nobody"  # a customer_uid with no billing key
NO_KEY = ERRORS["billing_key_not_found"].message


def test_a_schedule_refused_for_an_unknown_key_answers_imports_message(client, sandbox):
    at = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    charge = {"merchant_uid": "refused-1", "amount": 100, "name": "x", "schedule_at": at}

    resp = client.post(
        "/subscriptions/schedules", json={"customer_uid": NOBODY, "schedules": [charge]}
    )

    assert resp.status_code == 404
    assert resp.get_json()["code"] == "billing_key_not_found"
    if sandbox.provider == V1:
        assert resp.get_json()["message"] == "등록된 고객정보가 없습니다."
        assert sandbox.count("POST /subscribe/payments/schedule") == 1
    else:  # V2 schedules by the key the service names: with none, nothing is sent
        assert resp.get_json()["message"] == NO_KEY
        assert sandbox.count("POST /payments/{paymentId}/schedule") == 0


@pytest.mark.parametrize("code", [1, -1])
def test_a_charge_refused_for_an_unknown_key_answers_imports_message(client, sandbox, code):
    v1_only(sandbox.provider, "I'mport's unknown-customer codes and message")
    sandbox.admin("POST", "config", unknown_customer_code=code)
    charge = {"customer_uid": NOBODY, "merchant_uid": "order-1", "amount": 1000, "name": "x"}

    resp = client.post("/subscriptions/payments", json=charge)

    assert resp.status_code == 404
    assert resp.get_json()["code"] == "billing_key_not_found"
    assert resp.get_json()["message"] == "등록되지 않은 구매자입니다."


def test_looking_up_an_unknown_key_answers_the_fixed_text(client):
    resp = client.get(f"/subscriptions/billing-keys/{NOBODY}")

    assert resp.status_code == 404
    assert resp.get_json()["message"] == NO_KEY
    assert NOBODY not in resp.get_data(as_text=True)
