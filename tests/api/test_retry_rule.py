"""The one retry rule (issue 15): with an Idempotency-Key, every 5xx answer of a money-moving
POST is ``retryable`` and its retry never moves money twice; without one, only an answer that
sent nothing that moves money is. Through the Flask test client and the sandbox's faults."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import replace

import pytest

from billing_service import create_app
from billing_service.config import CALLS_PER_REQUEST, LONGEST_CHAINS, Settings
from billing_service.state.store import IdempotencyRecord

from ..support import CALLER_KEY, V1, VALID_BODY, InFlight, v1_only

pytestmark = pytest.mark.both_providers

ISSUE = "/subscriptions/issue-billing"
CHARGES = "/subscriptions/payments"
# I'mport's routes, for its token tests (elsewhere: sandbox.route, per provider).
AGAIN = "POST /subscribe/payments/again"
CANCEL = "POST /payments/cancel"
AUTH = {"Authorization": f"Bearer {CALLER_KEY}"}
UID = VALID_BODY["customer_uid"]
REFUSING_CARD = "4000-0000-0000-9995"  # the sandbox refuses its key's charges (code -1)


def keyed(key: str) -> dict[str, str]:
    return {**AUTH, "Idempotency-Key": key}


@pytest.fixture
def env(sandbox):
    return sandbox.env()


@pytest.fixture
def client(env):
    client = create_app(env).test_client()
    assert client.post(ISSUE, json=VALID_BODY, headers=AUTH).status_code == 200
    return client


@pytest.fixture
def imp_uid(client) -> str:
    charge = {"customer_uid": UID, "merchant_uid": "o-1", "amount": 9000, "name": "x"}
    resp = client.post(CHARGES, json=charge, headers=AUTH)
    assert resp.status_code == 200
    paid: str = resp.get_json()["payment"]["imp_uid"]
    return paid


def cancel(client, imp_uid: str, headers: dict[str, str]):
    body = {"reason": "고객 요청", "amount": 3000}
    return client.post(f"{CHARGES}/{imp_uid}/cancel", json=body, headers=headers)


def test_a_retried_cancel_whose_lookup_times_out_is_retryable_and_refunds_once(
    client, sandbox, imp_uid
):
    sandbox.admin("POST", "faults", route=sandbox.route("cancel"), fault="lost")
    first = cancel(client, imp_uid, keyed("refund-1"))
    assert first.status_code == 504 and first.get_json()["retryable"] is True
    sandbox.admin("POST", "faults", route=sandbox.route("payment"), fault="hang")

    timed_out = cancel(client, imp_uid, keyed("refund-1"))

    assert timed_out.status_code == 504
    assert timed_out.get_json()["code"] == "gateway_timeout"
    assert timed_out.get_json()["retryable"] is True
    done = cancel(client, imp_uid, keyed("refund-1"))
    assert done.status_code == 200
    assert done.get_json()["payment"]["cancel_amount"] == 3000
    assert (
        sandbox.count(sandbox.route("cancel")) == 2
    )  # the lost one (never processed) and this one


def test_a_cancel_without_a_key_is_retryable_only_if_nothing_was_sent(client, sandbox, imp_uid):
    sandbox.admin("POST", "faults", route=sandbox.route("payment"), fault="hang")
    looked_up = cancel(client, imp_uid, AUTH)
    sandbox.admin("POST", "faults", route=sandbox.route("cancel"), fault="lost")
    sent = cancel(client, imp_uid, AUTH)

    assert looked_up.status_code == 504 and looked_up.get_json()["retryable"] is True
    # Sent and lost: retried without a key it would read the reduced balance and refund again.
    assert sent.status_code == 504 and "retryable" not in sent.get_json()
    assert "look the payment up" in sent.get_json()["message"]
    assert sandbox.count(sandbox.route("cancel")) == 1


@pytest.mark.parametrize("headers", [keyed("charge-auth"), AUTH], ids=["keyed", "plain"])
def test_refused_credentials_are_a_retryable_502_nothing_was_sent(sandbox, headers):
    secret = "IAMPORT_API_SECRET" if sandbox.provider == V1 else "PORTONE_API_SECRET"
    app = create_app(sandbox.env(**{secret: "wrong"}))
    charge = {"customer_uid": UID, "merchant_uid": "o-2", "amount": 100, "name": "x"}

    resp = app.test_client().post(CHARGES, json=charge, headers=headers)

    assert resp.status_code == 502
    assert resp.get_json()["code"] == "gateway_auth_failed"
    assert resp.get_json()["retryable"] is True
    assert sandbox.count(sandbox.route("charge")) == 0


@pytest.mark.parametrize("route", [AGAIN, CANCEL])
def test_a_call_whose_token_was_refused_then_not_renewed_is_retryable(
    client, sandbox, imp_uid, route
):
    v1_only(sandbox.provider, "I'mport's access token (V2 sends its secret on every call)")
    # I'mport refuses the token (the call does not run), then cannot give a new one.
    sandbox.admin("POST", "faults", route=route, fault="http_401")
    sandbox.admin("POST", "faults", route="POST /users/getToken", fault="http_500")
    charge = {"customer_uid": UID, "merchant_uid": "o-3", "amount": 100, "name": "x"}

    if route == AGAIN:
        resp = client.post(CHARGES, json=charge, headers=AUTH)
    else:
        resp = client.post(f"{CHARGES}/{imp_uid}/cancel", json={"reason": "환불"}, headers=AUTH)

    assert resp.status_code in (502, 503)
    assert resp.get_json()["retryable"] is True
    paid = client.get(f"{CHARGES}/{imp_uid}", headers=AUTH).get_json()["payment"]
    assert paid["cancel_amount"] == 0


def test_reads_never_say_retryable(client, sandbox):
    # An imp_uid the V2 service has not kept a paymentId for is searched for first.
    lookup = sandbox.route("payment") if sandbox.provider == V1 else "GET /payments"
    sandbox.admin("POST", "faults", route=lookup, fault="hang")

    resp = client.get(f"{CHARGES}/imps_000000000001", headers=AUTH)

    assert resp.status_code == 504 and "retryable" not in resp.get_json()


def test_the_idempotency_lease_covers_the_pending_charge_chain(client, sandbox, env):
    v1_only(sandbox.provider, "I'mport's chain of calls, its token and its code -1 refusal")
    # A key whose charges the sandbox refuses; the first answer is lost before I'mport runs it.
    refusing = {**VALID_BODY, "customer_uid": "refused-1", "card_number": REFUSING_CARD}
    assert client.post(ISSUE, json=refusing, headers=AUTH).status_code == 200
    charge = {"customer_uid": "refused-1", "merchant_uid": "o-7", "amount": 100, "name": "x"}
    sandbox.admin("POST", "faults", route=AGAIN, fault="lost")
    assert client.post(CHARGES, json=charge, headers=keyed("chain")).status_code == 504
    settings = Settings.from_env(env)
    assert settings.longest_request == 7 * (settings.connect_timeout + 2) + 5
    (record,) = stored_records(env)
    assert record.lease_until - record.started_at == pytest.approx(settings.longest_request)
    sandbox.admin("POST", "tokens/expire")
    before = len(sandbox.admin("GET", "calls")["calls"])

    # The resumed attempt: order lookup (401), token, order lookup, charge (refused), order
    # lookup, key lookup: the pending chain, but for the first token, which is cached.
    assert client.post(CHARGES, json=charge, headers=keyed("chain")).status_code == 402

    calls = sandbox.admin("GET", "calls")["calls"][before:]
    assert len(calls) + 1 == len(LONGEST_CHAINS["pending charge"]) == CALLS_PER_REQUEST


def stored_records(env) -> list[IdempotencyRecord]:
    with sqlite3.connect(env["BILLING_DATA_DIR"] + "/state.db") as db:
        rows = db.execute("SELECT record FROM idempotency").fetchall()
    return [IdempotencyRecord.from_json(row[0]) for row in rows]


def test_a_late_attempt_whose_lease_was_taken_over_does_not_overwrite_the_record(
    client, sandbox, env, caplog
):
    charge = {"customer_uid": UID, "merchant_uid": "o-8", "amount": 100, "name": "x"}
    sandbox.admin("POST", "config", latency_ms=1000)
    late = InFlight(lambda: client.post(CHARGES, json=charge, headers=keyed("late")))
    sandbox.wait_in_flight(sandbox.route("charge"))
    # Meanwhile its lease ends and a retry takes the key over (written as a resume would).
    (record,) = stored_records(env)
    retry = replace(record, attempt="the-retry", state="in_flight")
    with sqlite3.connect(env["BILLING_DATA_DIR"] + "/state.db") as db:
        db.execute("UPDATE idempotency SET record = ?", (retry.to_json(),))

    assert late.result(10).status_code == 200

    (kept,) = stored_records(env)
    assert kept.attempt == "the-retry" and kept.state == "in_flight" and kept.body is None
    assert "its lease had been taken over" in caplog.text
    sandbox.admin("POST", "config", latency_ms=0)
    assert json.loads(late.result(1).get_data(as_text=True))["payment"]["amount"] == 100


def test_a_retry_refused_by_the_order_lock_keeps_what_its_first_attempt_kept(
    client, sandbox, imp_uid
):
    # The first attempt's cancel goes through, its answer and the lookup after it are lost.
    sandbox.admin("POST", "config", latency_ms=300)
    sandbox.admin("POST", "faults", route=sandbox.route("cancel"), fault="drop")
    first = InFlight(lambda: cancel(client, imp_uid, keyed("refund-2")))
    sandbox.wait_in_flight(sandbox.route("cancel"))
    # Reset, not held: a held lookup would stay in flight at the sandbox and be taken below for
    # the other refund's.
    sandbox.admin("POST", "faults", route=sandbox.route("payment"), fault="lost")
    assert first.result(20).status_code == 504
    # Another refund of the payment is running when the first one's retry comes.
    sandbox.admin("POST", "config", latency_ms=1500)
    other = InFlight(
        lambda: client.post(
            f"{CHARGES}/{imp_uid}/cancel",
            json={"reason": "다른 환불", "amount": 1000},
            headers=AUTH,
        )
    )
    sandbox.wait_in_flight(sandbox.route("payment"))

    refused = cancel(client, imp_uid, keyed("refund-2"))

    assert refused.status_code == 409 and refused.get_json()["code"] == "request_in_progress"
    assert other.result(20).status_code == 200
    sandbox.admin("POST", "config", latency_ms=0)
    # The record still holds the first attempt's checksum: found in the history, not resent.
    retried = cancel(client, imp_uid, keyed("refund-2"))
    assert retried.status_code == 200 and retried.get_json()["replayed"] is True
    history = retried.get_json()["payment"]["cancel_history"]
    assert sorted(entry["amount"] for entry in history) == [1000, 3000]
    assert sandbox.count(sandbox.route("cancel")) == 2
