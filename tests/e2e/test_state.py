"""The state store through gunicorn (two workers): limits per instance and across replicas,
Redis going away mid-run, cancels and charges that move money exactly once, and the deadline
on a peer that trickles its headers."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import pytest
import requests

from ..support import (
    CALLER_KEY,
    NO_LIMITS,
    REJECTED_CARD,
    ROOT,
    VALID_BODY,
    InFlight,
    LiveService,
    RedisServer,
    Sandbox,
    service_env,
)

ISSUE = "/subscriptions/issue-billing"
CHARGES = "/subscriptions/payments"
AUTH = {"Authorization": f"Bearer {CALLER_KEY}"}
AGAIN = "POST /subscribe/payments/again"
CANCEL = "POST /payments/cancel"
ISSUE_ROUTE = "POST /subscribe/customers/{customer_uid}"
FINGERPRINT = {"BILLING_CARD_FINGERPRINT_KEY": "e2e-shared-fingerprint-key-0123456789"}


REJECTED = {**VALID_BODY, "card_number": REJECTED_CARD}


def rejected_issuance(url: str) -> int:
    """One rejected card for one customer_uid, on a new connection (any worker may take it)."""
    return requests.post(url + ISSUE, json=REJECTED, headers=AUTH, timeout=30).status_code


def first_429(urls: Iterator[str], attempts: int = 40) -> int:
    statuses = [rejected_issuance(next(urls)) for _ in range(attempts)]
    assert set(statuses) <= {402, 429}, statuses
    return statuses.index(429) + 1 if 429 in statuses else attempts + 1


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    yield server
    server.stop()


def served_by(service: LiveService) -> set[int]:
    return {e["pid"] for e in service.request_entries() if e["route"] == ISSUE}


def test_the_default_limits_count_for_the_whole_instance(sandbox: Sandbox):
    # The defaults: 30 issuances per customer_uid an hour, counted in the embedded store. Sent
    # two at a time, so that both workers take attempts (one at a time, one worker takes all).
    service = LiveService(service_env(sandbox.url))
    try:
        statuses: list[int] = []
        for _ in range(20):
            pair = [
                InFlight(lambda: requests.post(service.url + ISSUE, json=REJECTED, headers=AUTH))
                for _ in range(2)
            ]
            statuses += [p.result(30).status_code for p in pair]
        workers = served_by(service)
    finally:
        service.stop()

    assert len(workers) == 2, "both workers must have taken attempts for this to prove much"
    assert set(statuses) == {402, 429}
    # Attempts are counted once answered, so two at once can both pass a count of 29: at most
    # the 31st attempt reaches I'mport, never the 60 two per-worker counts would let through.
    assert 30 <= statuses.count(402) <= 31


def test_replicas_sharing_redis_count_together(sandbox: Sandbox, redis_server: RedisServer):
    env = service_env(sandbox.url, BILLING_STATE_URL=redis_server.url, **FINGERPRINT)
    one, two = (
        LiveService(env),
        LiveService({**env, "BILLING_DATA_DIR": env["BILLING_DATA_DIR"] + "-2"}),
    )
    try:
        attempt = first_429(itertools.cycle([one.url, two.url]))
    finally:
        one.stop()
        two.stop()

    assert attempt == 31


def test_with_redis_gone_limits_hold_per_instance_and_charges_are_refused(
    sandbox: Sandbox, redis_server: RedisServer
):
    env = service_env(sandbox.url, BILLING_STATE_URL=redis_server.url, **FINGERPRINT)
    service = LiveService(env)
    try:
        body = {**VALID_BODY, "customer_uid": "keyed"}
        assert requests.post(service.url + ISSUE, json=body, headers=AUTH).status_code == 200
        assert [rejected_issuance(service.url) for _ in range(10)] == [402] * 10
        redis_server.stop()

        charge = {"customer_uid": "keyed", "merchant_uid": "r-1", "amount": 1000, "name": "x"}
        keyed = requests.post(
            service.url + CHARGES, json=charge, headers={**AUTH, "Idempotency-Key": "k-1"}
        )
        calls_before = sandbox.count(AGAIN)
        # The embedded store counts from zero: 30 more for this instance, then 429.
        attempt = first_429(itertools.repeat(service.url))
        plain = requests.post(service.url + CHARGES, json=charge, headers=AUTH)
        metrics = requests.get(service.url + "/metrics").text
    finally:
        service.stop()

    assert keyed.status_code == 503
    assert keyed.json()["code"] == "state_unavailable"
    assert calls_before == 0  # the keyed charge reached no I'mport
    assert attempt == 31
    # Without a key either (issue 15): its order's lock cannot be taken, so nothing is sent.
    assert plain.status_code == 503
    assert plain.json()["code"] == "state_unavailable" and plain.json()["retryable"] is True
    assert sandbox.count(AGAIN) == 0
    fallbacks = [
        line for line in metrics.splitlines() if line.startswith("billing_state_fallbacks_total")
    ]
    assert fallbacks and float(fallbacks[0].split()[-1]) >= 1
    assert "The shared state store is down" in service.log()


def test_an_order_in_flight_on_one_replica_is_not_charged_by_another(
    sandbox: Sandbox, redis_server: RedisServer
):
    env = service_env(sandbox.url, BILLING_STATE_URL=redis_server.url, **FINGERPRINT)
    one, two = (
        LiveService(env),
        LiveService({**env, "BILLING_DATA_DIR": env["BILLING_DATA_DIR"] + "-2"}),
    )
    try:
        body = {**VALID_BODY, "customer_uid": "locked"}
        assert requests.post(one.url + ISSUE, json=body, headers=AUTH).status_code == 200
        # fault-hang-: I'mport charges it, then holds the answer past the read timeout.
        charge = {"customer_uid": "locked", "merchant_uid": "fault-hang-1", "amount": 100}
        charge["name"] = "x"
        first = InFlight(lambda: requests.post(one.url + CHARGES, json=charge, headers=AUTH))
        sandbox.wait_in_flight(AGAIN)
        second = requests.post(two.url + CHARGES, json=charge, headers=AUTH, timeout=30)
        answered = first.result(30)
    finally:
        one.stop()
        two.stop()

    assert second.status_code == 409
    assert second.json()["code"] == "request_in_progress"
    assert "Retry-After" in second.headers
    assert answered.status_code == 200 and answered.json()["reconciled"] is True
    assert sandbox.count(AGAIN) == 1


@pytest.fixture
def service(sandbox: Sandbox) -> Iterator[LiveService]:
    live = LiveService(service_env(sandbox.url, **NO_LIMITS))
    yield live
    live.stop()


def paid_charge(service: LiveService) -> str:
    uid = f"cust-{uuid.uuid4().hex[:8]}"
    body = {**VALID_BODY, "customer_uid": uid}
    assert requests.post(service.url + ISSUE, json=body, headers=AUTH).status_code == 200
    charge = {"customer_uid": uid, "merchant_uid": f"o-{uid}", "amount": 9000, "name": "x"}
    resp = requests.post(service.url + CHARGES, json=charge, headers=AUTH)
    assert resp.status_code == 200
    imp_uid: str = resp.json()["payment"]["imp_uid"]
    return imp_uid


def cancel(service: LiveService, imp_uid: str, key: str) -> requests.Response:
    return requests.post(
        f"{service.url}{CHARGES}/{imp_uid}/cancel",
        json={"reason": "고객 요청", "amount": 3000},
        headers={**AUTH, "Idempotency-Key": key},
        timeout=30,
    )


@pytest.mark.parametrize("fault", ["drop", "lost", "hang"])
def test_a_cancel_retried_five_times_after_a_lost_answer_refunds_once(service, sandbox, fault):
    imp_uid = paid_charge(service)
    sandbox.admin("POST", "faults", route=CANCEL, fault=fault, times=1)

    answers = [cancel(service, imp_uid, "cancel-1") for _ in range(6)]

    payment = sandbox_payment(sandbox, imp_uid)
    assert [entry["amount"] for entry in payment["cancel_history"]] == [3000]
    assert payment["cancel_amount"] == 3000
    final = [a for a in answers if a.status_code == 200]
    assert final and all(a.json()["payment"]["cancel_amount"] == 3000 for a in final)
    # Until it is known, the outcome is a retryable 504; once known, it is the same 200.
    assert all(a.status_code in (200, 504) for a in answers)
    assert all(a.json()["retryable"] for a in answers if a.status_code == 504)
    assert answers[-1].headers["Idempotent-Replayed"] == "true"


def sandbox_payment(sandbox: Sandbox, imp_uid: str) -> dict:
    resp = requests.get(
        f"{sandbox.url}/payments/{imp_uid}",
        headers={"Authorization": sandbox_token(sandbox)},
    )
    payment: dict = resp.json()["response"]
    return payment


def sandbox_token(sandbox: Sandbox) -> str:
    from billing_service.sandbox import DEFAULT_API_KEY, DEFAULT_API_SECRET

    resp = requests.post(
        f"{sandbox.url}/users/getToken",
        json={"imp_key": DEFAULT_API_KEY, "imp_secret": DEFAULT_API_SECRET},
    )
    token: str = resp.json()["response"]["access_token"]
    return token


def test_a_pending_charge_is_followed_up_and_never_sent_twice(service, sandbox):
    body = {**VALID_BODY, "customer_uid": "pending-customer"}
    assert requests.post(service.url + ISSUE, json=body, headers=AUTH).status_code == 200
    charge = {"customer_uid": "pending-customer", "merchant_uid": "pending-1", "amount": 500}
    charge["name"] = "x"

    first = requests.post(service.url + CHARGES, json=charge, headers=AUTH)
    retried = [requests.post(service.url + CHARGES, json=charge, headers=AUTH) for _ in range(3)]
    imp_uid = first.json()["payment"]["imp_uid"]
    followed = requests.get(f"{service.url}{CHARGES}/by-merchant-uid/pending-1", headers=AUTH)
    sandbox.admin("POST", f"payments/{imp_uid}/settle", status="paid")
    settled = requests.post(service.url + CHARGES, json=charge, headers=AUTH)

    assert first.status_code == 202
    assert (first.json()["status"], first.json()["payment"]["status"]) == ("pending", "ready")
    assert [r.status_code for r in retried] == [202] * 3
    assert followed.json()["payment"]["status"] == "ready"
    assert settled.status_code == 200
    assert settled.json()["replayed"] is True and settled.json()["payment"]["status"] == "paid"
    assert sandbox.count(AGAIN) == 1


def test_a_charge_left_pending_that_failed_is_charged_again(service, sandbox):
    body = {**VALID_BODY, "customer_uid": "pending-2"}
    assert requests.post(service.url + ISSUE, json=body, headers=AUTH).status_code == 200
    charge = {"customer_uid": "pending-2", "merchant_uid": "pending-2", "amount": 500, "name": "x"}
    first = requests.post(service.url + CHARGES, json=charge, headers=AUTH)
    sandbox.admin("POST", f"payments/{first.json()['payment']['imp_uid']}/settle", status="failed")

    again = requests.post(service.url + CHARGES, json=charge, headers=AUTH)

    # A pending- merchant_uid is left ready again by the sandbox: a new charge was sent.
    assert again.status_code == 202
    assert again.json()["payment"]["imp_uid"] != first.json()["payment"]["imp_uid"]
    assert sandbox.count(AGAIN) == 2


def test_headers_trickled_past_the_deadline_are_a_504_within_it(sandbox: Sandbox):
    env = service_env(sandbox.url, IAMPORT_CONNECT_TIMEOUT="0.5", IAMPORT_READ_TIMEOUT="1")
    service = LiveService(env)
    try:
        sandbox.admin("POST", "faults", route=ISSUE_ROUTE, fault="trickle_headers", times=1)
        started = time.monotonic()
        resp = requests.post(service.url + ISSUE, json=VALID_BODY, headers=AUTH, timeout=30)
        elapsed = time.monotonic() - started
    finally:
        service.stop()

    assert resp.status_code == 504
    assert resp.json()["code"] == "gateway_timeout"
    assert 1.5 <= elapsed < 3.5  # the deadline is connect + read = 1.5 s


def test_gunicorn_refuses_to_start_on_a_redis_that_may_evict_keys(sandbox: Sandbox):
    server = RedisServer(args=("--maxmemory-policy", "volatile-lru"))  # the managed default
    try:
        env = service_env(sandbox.url, BILLING_STATE_URL=server.url, **FINGERPRINT)
        result = subprocess.run(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
            cwd=ROOT,
            env={"PATH": os.environ["PATH"], "PORT": "0", **env},
            capture_output=True,
            text=True,
            timeout=30,
        )
    finally:
        server.stop()

    assert result.returncode != 0
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    [refusal] = [line for line in lines if "may evict keys" in line["message"]]
    assert "set maxmemory-policy noeviction" in refusal["message"]
    assert not any("Booting worker" in line["message"] for line in lines)
