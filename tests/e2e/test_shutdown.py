"""Graceful shutdown: SIGTERM to gunicorn lets the requests in flight finish and answer, then the
process exits by itself."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest
import requests

from ..support import (
    CALLER_KEY,
    ROOT,
    SANDBOX_MODE,
    VALID_BODY,
    InFlight,
    LiveService,
    Sandbox,
    service_env,
)

AUTH = {"Authorization": f"Bearer {CALLER_KEY}"}
ISSUE_ROUTE = "POST /subscribe/customers/{customer_uid}"
AGAIN_ROUTE = "POST /subscribe/payments/again"
LATENCY_MS = 1500  # every I'mport answer of the slowed-down sandbox
READ_TIMEOUT = 5.0  # above the latency: the calls succeed, slowly


def graceful_timeout(**env: str) -> int:
    """gunicorn.conf.py's graceful_timeout for ``env`` (in sandbox mode, so that settings without
    credentials parse), read in a child (it sets up logging)."""
    code = "import runpy; print(runpy.run_path('gunicorn.conf.py')['graceful_timeout'])"
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", **SANDBOX_MODE, **env},
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return int(out.stdout.strip())


def test_sigterm_lets_an_issuance_and_a_charge_in_flight_finish_then_exits(sandbox: Sandbox):
    # One worker, so that both requests use the token it already holds and are both waiting on
    # their (slow) I'mport call at the same time: a deterministic moment to send SIGTERM.
    service = LiveService(
        service_env(sandbox.url, IAMPORT_READ_TIMEOUT=str(READ_TIMEOUT)), workers=1
    )
    try:
        key = {**VALID_BODY, "customer_uid": "shutdown-charged"}
        assert (
            requests.post(
                service.url + "/subscriptions/issue-billing", json=key, headers=AUTH, timeout=30
            ).status_code
            == 200
        )
        sandbox.admin("POST", "config", latency_ms=LATENCY_MS)

        issuance = InFlight(
            lambda: requests.post(
                service.url + "/subscriptions/issue-billing",
                json={**VALID_BODY, "customer_uid": "shutdown-issued"},
                headers=AUTH,
                timeout=30,
            )
        )
        charge = InFlight(
            lambda: requests.post(
                service.url + "/subscriptions/payments",
                json={
                    "customer_uid": "shutdown-charged",
                    "merchant_uid": "order-shutdown-1",
                    "amount": 9900,
                    "name": "월간 구독",
                },
                headers=AUTH,
                timeout=30,
            )
        )
        # Both have reached the sandbox, which holds them for LATENCY_MS.
        deadline = time.monotonic() + 10
        while not {ISSUE_ROUTE, AGAIN_ROUTE} <= sandbox.admin("GET", "calls")["in_flight"].keys():
            assert time.monotonic() < deadline, service.log()
            time.sleep(0.01)
        assert not issuance.done.is_set() and not charge.done.is_set()

        service.proc.send_signal(signal.SIGTERM)
        sent_at = time.monotonic()

        issued = issuance.result(timeout=30)
        assert issued.status_code == 200, issued.text
        assert issued.json()["billing_key"]["customer_uid"] == "shutdown-issued"
        paid = charge.result(timeout=30)
        assert paid.status_code == 200, paid.text
        assert paid.json()["payment"]["status"] == "paid"
        assert paid.json()["reconciled"] is False  # answered normally, not cut and looked up

        code = service.proc.wait(timeout=60)
        exited_after = time.monotonic() - sent_at
    finally:
        service.stop()

    assert code == 0
    # By itself, once its requests were answered: long before gunicorn would kill the worker.
    limit = graceful_timeout(IAMPORT_READ_TIMEOUT=str(READ_TIMEOUT))
    assert exited_after < LATENCY_MS / 1000 + 5 < limit
    log = service.log()
    assert "Handling signal: term" in log
    assert '"POST /subscriptions/issue-billing 200"' in log
    assert '"POST /subscriptions/payments 200"' in log


@pytest.mark.parametrize(
    ("env", "at_least"),
    [
        ({}, 7 * (3 + 30)),  # the defaults
        ({"IAMPORT_CONNECT_TIMEOUT": "2", "IAMPORT_READ_TIMEOUT": "10"}, 7 * (2 + 10)),
        ({"IAMPORT_READ_TIMEOUT": "not a number"}, 7 * (3 + 30)),  # on_starting refuses it
    ],
)
def test_graceful_timeout_covers_the_longest_request(env, at_least):
    # A request makes at most 7 I'mport calls in a row that may each last connect + read timeout
    # (a charge left pending: config.LONGEST_CHAINS, see gunicorn.conf.py).
    assert at_least <= graceful_timeout(**env) <= at_least + 10
