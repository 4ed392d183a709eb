"""A charge whose gunicorn worker dies after I'mport did it still gets its event, once: the
follow-up kept before it was sent is picked up by the worker gunicorn starts instead."""

from __future__ import annotations

import os
import re
import signal
import threading
import time

import requests

from billing_service.api.publisher import FOLLOW_UP
from billing_service.events.outbox import EmbeddedOutbox

from ..support import NO_LIMITS, VALID_BODY, LiveService, Sandbox, service_env
from .test_subscriptions import AUTH, SECRET, Subscriber

AGAIN = "POST /subscribe/payments/again"


def test_a_charge_whose_worker_died_after_imports_answered_gets_its_event_once(
    sandbox: Sandbox, subscriber: Subscriber
):
    env = service_env(
        sandbox.url,
        IAMPORT_READ_TIMEOUT="20",  # the request waits out the sandbox's hang: it dies first
        BILLING_EVENT_URLS=subscriber.url,
        BILLING_EVENT_SECRET=SECRET,
        BILLING_PENDING_RECHECK_SECONDS="1",
        BILLING_EVENT_RETRY_DELAYS="0.3,0.3,0.3,0.3,0.3",
        **NO_LIMITS,
    )
    service = LiveService(env, workers=1)
    try:
        body = {**VALID_BODY, "customer_uid": "dying"}
        issue = f"{service.url}/subscriptions/issue-billing"
        assert requests.post(issue, json=body, headers=AUTH).status_code == 200
        sandbox.admin("POST", "faults", route=AGAIN, fault="hang")  # done, answer held back
        charge = {"customer_uid": "dying", "merchant_uid": "die-1", "amount": 900, "name": "x"}
        answers: list[object] = []

        def send() -> None:
            try:
                answers.append(
                    requests.post(
                        f"{service.url}/subscriptions/payments", json=charge, headers=AUTH
                    )
                )
            except requests.ConnectionError as exc:
                answers.append(exc)

        caller = threading.Thread(target=send)
        caller.start()
        sandbox.wait_in_flight(AGAIN)  # I'mport has charged; its answer is held back
        [worker] = re.findall(r"Booting worker with pid: (\d+)", service.log())
        os.kill(int(worker), signal.SIGKILL)
        caller.join(30)

        assert [type(a) for a in answers] == [requests.ConnectionError]  # no answer at all
        [event] = subscriber.wait_for(1, timeout=30)
        assert event["type"] == "payment.paid"
        assert event["data"]["payment"]["merchant_uid"] == "die-1"
        outbox = EmbeddedOutbox(os.path.join(env["BILLING_DATA_DIR"], "state.db"))
        deadline = time.monotonic() + 30
        while [r.status for r in outbox.records(None) if r.kind == FOLLOW_UP] != ["delivered"]:
            assert time.monotonic() < deadline, "the follow-up never finished"
            time.sleep(0.1)
        assert len(subscriber.received) == 1
        assert sandbox.count(AGAIN) == 1
    finally:
        service.stop()
