"""Idempotency-Key on issuance, charges and cancels, through the Flask test client and the
sandbox of each provider (each app has its own embedded state store: tests/support.py
service_env)."""

from __future__ import annotations

import glob
import os
import threading
from pathlib import Path

import pytest

from billing_service import create_app

from ..support import (
    CALLER_KEY,
    OTHER_CALLER_KEY,
    V1,
    VALID_BODY,
    InFlight,
    known_cards_in,
)

pytestmark = pytest.mark.both_providers

ISSUE = "/subscriptions/issue-billing"
CHARGES = "/subscriptions/payments"
UID = VALID_BODY["customer_uid"]
CHARGE = {"customer_uid": UID, "merchant_uid": "order-1", "amount": 9900, "name": "월간 구독"}


def keyed(key: str, secret: str = CALLER_KEY) -> dict[str, str]:
    return {"Idempotency-Key": key, "Authorization": f"Bearer {secret}"}


@pytest.fixture
def env(sandbox):
    return sandbox.env()


@pytest.fixture
def client(env):
    return create_app(env).test_client()


@pytest.fixture
def key(client) -> str:
    assert client.post(ISSUE, json=VALID_BODY, headers=keyed("issue-1")).status_code == 200
    return UID


def test_a_retried_charge_gets_the_first_answer_without_a_second_call(client, sandbox, key):
    first = client.post(CHARGES, json=CHARGE, headers=keyed("charge-1"))
    again = client.post(CHARGES, json=CHARGE, headers=keyed("charge-1"))

    assert first.status_code == again.status_code == 200
    assert again.get_json() == first.get_json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert sandbox.count(sandbox.route("charge")) == 1


def test_the_drafts_quoted_key_and_stripes_bare_key_are_the_same_key(client, sandbox, key):
    assert client.post(CHARGES, json=CHARGE, headers=keyed('"charge-2"')).status_code == 200
    again = client.post(CHARGES, json=CHARGE, headers=keyed("charge-2"))

    assert again.headers["Idempotent-Replayed"] == "true"
    assert sandbox.count(sandbox.route("charge")) == 1


def test_the_same_key_with_another_request_is_422(client, sandbox, key):
    assert client.post(CHARGES, json=CHARGE, headers=keyed("charge-3")).status_code == 200

    other = client.post(CHARGES, json={**CHARGE, "amount": 1}, headers=keyed("charge-3"))

    assert other.status_code == 422
    assert other.get_json()["code"] == "idempotency_key_reused"
    assert sandbox.count(sandbox.route("charge")) == 1


@pytest.mark.parametrize(
    "value",
    ['""', "x" * 256, "키", "tab\there", "a\x7fb"],
    ids=["empty", "long", "hangul", "tab", "del"],
)
@pytest.mark.provider_neutral
def test_a_malformed_key_is_400_and_nothing_is_sent(client, sandbox, key, value):
    resp = client.post(CHARGES, json=CHARGE, headers=keyed(value))

    assert resp.status_code == 400
    assert resp.get_json()["code"] == "invalid_idempotency_key"
    assert sandbox.count(sandbox.route("charge")) == 0


@pytest.mark.provider_neutral
def test_two_key_headers_are_400(client, sandbox, key):
    headers = [("Idempotency-Key", "a"), ("Idempotency-Key", "b")]
    headers.append(("Authorization", f"Bearer {CALLER_KEY}"))

    resp = client.post(CHARGES, json=CHARGE, headers=headers)

    assert resp.status_code == 400
    assert resp.get_json()["code"] == "invalid_idempotency_key"
    assert sandbox.count(sandbox.route("charge")) == 0


def test_records_are_per_caller(client, sandbox, key):
    assert client.post(CHARGES, json=CHARGE, headers=keyed("shared")).status_code == 200

    other = client.post(CHARGES, json=CHARGE, headers=keyed("shared", OTHER_CALLER_KEY))

    # The other caller's request ran (I'mport saw it: the merchant_uid is its own replay).
    assert "Idempotent-Replayed" not in other.headers
    assert sandbox.count(sandbox.route("charge")) == 2


def test_a_request_refused_by_validation_leaves_no_record(client, sandbox, key):
    bad = client.post(CHARGES, json={**CHARGE, "amount": -1}, headers=keyed("charge-4"))
    assert bad.status_code == 422 and bad.get_json()["code"] == "invalid_request"

    fixed = client.post(CHARGES, json=CHARGE, headers=keyed("charge-4"))

    assert fixed.status_code == 200
    assert "Idempotent-Replayed" not in fixed.headers


def test_a_declined_charge_is_final_and_replayed(client, sandbox):
    body = {**VALID_BODY, "card_number": "4000000000000341", "customer_uid": "declining"}
    assert client.post(ISSUE, json=body, headers=keyed("issue-d")).status_code == 200
    charge = {**CHARGE, "customer_uid": "declining"}

    first = client.post(CHARGES, json=charge, headers=keyed("charge-d"))
    again = client.post(CHARGES, json=charge, headers=keyed("charge-d"))

    assert first.status_code == again.status_code == 402
    assert again.get_json() == first.get_json()
    assert sandbox.count(sandbox.route("charge")) == 1


def test_an_unknown_outcome_is_not_final_a_retry_runs_again(client, sandbox, key):
    lost = {**CHARGE, "merchant_uid": "fault-lost-9"}
    first = client.post(CHARGES, json=lost, headers=keyed("charge-5"))
    assert first.status_code == 504 and first.get_json()["retryable"] is True

    again = client.post(CHARGES, json=lost, headers=keyed("charge-5"))

    assert again.status_code == 504
    assert "Idempotent-Replayed" not in again.headers
    assert (
        sandbox.count(sandbox.route("charge")) == 2
    )  # fault-lost- resets before I'mport processes anything


def test_a_request_still_running_is_409_with_retry_after(client, sandbox, key):
    sandbox.admin("POST", "config", latency_ms=1500)
    first = InFlight(lambda: client.post(CHARGES, json=CHARGE, headers=keyed("charge-6")))
    sandbox.wait_in_flight(sandbox.route("charge"))

    second = client.post(CHARGES, json=CHARGE, headers=keyed("charge-6"))

    assert second.status_code == 409
    assert second.get_json()["code"] == "request_in_progress"
    assert int(second.headers["Retry-After"]) >= 1
    assert first.result(10).status_code == 200
    sandbox.admin("POST", "config", latency_ms=0)
    assert client.post(CHARGES, json=CHARGE, headers=keyed("charge-6")).status_code == 200
    assert sandbox.count(sandbox.route("charge")) == 1


def test_concurrent_requests_with_one_key_charge_once(client, sandbox, key):
    sandbox.admin("POST", "config", latency_ms=300)
    barrier = threading.Barrier(8)

    def send():
        barrier.wait()
        return client.post(CHARGES, json=CHARGE, headers=keyed("charge-7"))

    results = [InFlight(send) for _ in range(8)]
    statuses = sorted(r.result(20).status_code for r in results)

    assert statuses.count(200) >= 1 and set(statuses) <= {200, 409}
    assert sandbox.count(sandbox.route("charge")) == 1


def test_an_issuance_record_holds_no_card_data(env, sandbox):
    client = create_app(env).test_client()
    body = {**VALID_BODY, "pwd_2digit": "93", "birth": "710304", "expiry": "2033-11"}

    first = client.post(ISSUE, json=body, headers=keyed("issue-card"))
    again = client.post(ISSUE, json=body, headers=keyed("issue-card"))

    assert first.status_code == again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert sandbox.count(sandbox.route("issue")) == 1
    stored = b"".join(
        Path(path).read_bytes() for path in glob.glob(os.path.join(env["BILLING_DATA_DIR"], "*"))
    ).decode("latin-1")
    assert "424242******4242" in stored  # the answer is kept, masked
    assert not known_cards_in(stored)
    for secret in ("2033-11", "203311", "710304", '"93"'):
        assert secret not in stored


def test_a_broken_state_store_refuses_keyed_requests_with_nothing_sent(env, sandbox):
    client = create_app(env).test_client()
    assert client.post(ISSUE, json=VALID_BODY, headers=keyed("issue-x")).status_code == 200
    for path in glob.glob(os.path.join(env["BILLING_DATA_DIR"], "state.db*")):
        Path(path).write_bytes(b"this is not a database" * 100)
    broken = create_app(env)

    charge = broken.test_client().post(CHARGES, json=CHARGE, headers=keyed("charge-x"))
    issue = broken.test_client().post(ISSUE, json=VALID_BODY, headers=keyed("issue-y"))

    assert charge.status_code == issue.status_code == 503
    assert charge.get_json()["code"] == issue.get_json()["code"] == "state_unavailable"
    assert sandbox.count(sandbox.route("charge")) == 0
    assert sandbox.count(sandbox.route("issue")) == 1


def test_a_pending_charge_is_not_final_its_retry_follows_it_up(client, sandbox, key):
    pending = {**CHARGE, "merchant_uid": "pending-7"}
    first = client.post(CHARGES, json=pending, headers=keyed("charge-p"))
    assert first.status_code == 202
    if sandbox.provider == V1:
        imp_uid = first.get_json()["payment"]["imp_uid"]
        sandbox.admin("POST", f"payments/{imp_uid}/settle", status="paid")
    else:  # the V2 fake settles a paymentId's latest attempt
        sandbox.admin("POST", "payments/pending-7/settle", status="PAID")

    settled = client.post(CHARGES, json=pending, headers=keyed("charge-p"))

    assert settled.status_code == 200
    assert "Idempotent-Replayed" not in settled.headers
    assert settled.get_json()["replayed"] is True
    assert sandbox.count(sandbox.route("charge")) == 1


def test_a_retry_after_an_unknown_outcome_looks_the_order_up_first(client, sandbox, key):
    lost = {**CHARGE, "merchant_uid": "fault-500-8"}
    auth = {"Authorization": f"Bearer {CALLER_KEY}"}
    assert client.post(CHARGES, json=lost, headers=auth).status_code == 504
    calls_before = [c["route"] for c in sandbox.admin("GET", "calls")["calls"]]

    client.post(CHARGES, json=lost, headers=auth)

    calls = [c["route"] for c in sandbox.admin("GET", "calls")["calls"]][len(calls_before) :]
    if sandbox.provider == V1:
        assert calls.index("/payments/find/{merchant_uid}") < calls.index(
            "/subscribe/payments/again"
        )
    else:
        assert calls.index("/payments/{paymentId}") < calls.index(
            "/payments/{paymentId}/billing-key"
        )
