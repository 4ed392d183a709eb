"""Black-box tests of the one-shot route faults queued by `POST /__sandbox__/faults`."""

from __future__ import annotations

import json
import socket
import threading
import time
from typing import Any

import pytest
import requests

from billing_service.sandbox import (
    DEFAULT_API_KEY,
    DEFAULT_API_SECRET,
    SandboxServer,
    start_sandbox,
)

from .helpers import (
    NOTHING_TO_CANCEL,
    admin,
    cancel,
    get_payment,
    paid,
    queue_fault,
    token_call,
    with_key,
)

CANCEL = "POST /payments/cancel"
GET_PAYMENT = "GET /payments/{imp_uid}"
GET_TOKEN = "POST /users/getToken"
SERVER_ERROR = {
    "code": -1,
    "message": "[sandbox] 일시적인 서버 오류가 발생했습니다.",
    "response": None,
}
CREDENTIALS = {"imp_key": DEFAULT_API_KEY, "imp_secret": DEFAULT_API_SECRET}


def raw_post(
    sb: SandboxServer, path: str, body: dict[str, Any], access_token: str | None = None
) -> socket.socket:
    """POST on a fresh socket whose every recv() times out after 1 s (a read timeout)."""
    data = json.dumps(body).encode()
    auth = f"Authorization: {access_token}\r\n" if access_token else ""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: x\r\n{auth}"
        f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
    )
    sock = socket.create_connection(("127.0.0.1", sb.port), timeout=1)
    sock.sendall(head.encode() + data)
    return sock


def statuses(http: requests.Session, sb: SandboxServer, route: str) -> list[Any]:
    method, _, template = route.partition(" ")
    calls = admin(http, sb, "calls").json()["calls"]
    return [c["status"] for c in calls if (c["method"], c["route"]) == (method, template)]


# --- the admin API ---------------------------------------------------------------------------


def test_queue_lists_and_reset_clears_faults(sandbox: SandboxServer, http) -> None:
    assert admin(http, sandbox, "faults").json() == {"faults": []}
    assert queue_fault(http, sandbox, CANCEL, "drop") == [
        {"route": CANCEL, "fault": "drop", "times": 1}  # times defaults to 1
    ]
    queued = queue_fault(http, sandbox, GET_PAYMENT, "hang", times=3)
    assert queued == [
        {"route": CANCEL, "fault": "drop", "times": 1},
        {"route": GET_PAYMENT, "fault": "hang", "times": 3},
    ]
    assert admin(http, sandbox, "faults").json() == {"faults": queued}
    admin(http, sandbox, "reset")
    assert admin(http, sandbox, "faults").json() == {"faults": []}


@pytest.mark.parametrize(
    "body",
    [
        {"route": "POST /payments/refund", "fault": "drop"},  # no such route
        {"route": "/payments/cancel", "fault": "drop"},  # the method is part of the name
        {"route": "GET /payments/cancel", "fault": "drop"},
        {"route": "POST <unknown>", "fault": "drop"},
        {"route": ["POST /payments/cancel"], "fault": "drop"},
        {"fault": "drop"},
        {"route": CANCEL, "fault": "reset"},  # no such fault
        {"route": CANCEL, "fault": None},
        {"route": CANCEL},
        {"route": CANCEL, "fault": "drop", "times": 0},
        {"route": CANCEL, "fault": "drop", "times": -1},
        {"route": CANCEL, "fault": "drop", "times": True},
        {"route": CANCEL, "fault": "drop", "times": "2"},
        {"route": CANCEL, "fault": "drop", "times": 1.5},
        {"route": CANCEL, "fault": "drop", "time": 2},  # a typo must not queue a single strike
    ],
)
def test_bad_fault_requests_are_400_and_queue_nothing(
    sandbox: SandboxServer, http, body: dict[str, Any]
) -> None:
    response = admin(http, sandbox, "faults", body)
    assert response.status_code == 400
    assert response.json()["error"]
    assert admin(http, sandbox, "faults").json() == {"faults": []}


# --- each fault ------------------------------------------------------------------------------


def test_a_one_shot_fault_is_used_exactly_once(sandbox: SandboxServer, http) -> None:
    access_token = with_key(http, sandbox)
    payment = paid(http, sandbox, access_token)
    queue_fault(http, sandbox, GET_PAYMENT, "http_500")
    first = get_payment(http, sandbox, access_token, payment["imp_uid"])
    assert (first.status_code, first.json()) == (500, SERVER_ERROR)
    second = get_payment(http, sandbox, access_token, payment["imp_uid"])
    assert (second.status_code, second.json()["response"]) == (200, payment)
    assert admin(http, sandbox, "faults").json() == {"faults": []}
    assert statuses(http, sandbox, GET_PAYMENT) == [500, 200]


def test_a_fault_strikes_its_route_times_calls_then_stops(sandbox: SandboxServer, http) -> None:
    queue_fault(http, sandbox, GET_TOKEN, "lost", times=2)
    # A call of another route is not struck and leaves the strikes where they are.
    assert get_payment(http, sandbox, "no-token", "imps_000000000000").status_code == 401
    assert admin(http, sandbox, "faults").json()["faults"][0]["times"] == 2
    for left in (1, 0):
        with pytest.raises(requests.ConnectionError):
            token_call(http, sandbox)
        assert len(admin(http, sandbox, "faults").json()["faults"]) == left
    assert token_call(http, sandbox).status_code == 200
    assert statuses(http, sandbox, GET_TOKEN) == [None, None, 200]


def test_faults_on_a_route_strike_in_the_order_queued(sandbox: SandboxServer, http) -> None:
    queue_fault(http, sandbox, GET_TOKEN, "http_500")
    queue_fault(http, sandbox, GET_TOKEN, "lost")
    assert token_call(http, sandbox).status_code == 500
    with pytest.raises(requests.ConnectionError):
        token_call(http, sandbox)
    assert token_call(http, sandbox).status_code == 200


def test_concurrent_calls_never_both_take_a_one_shot_fault(sandbox: SandboxServer, http) -> None:
    queue_fault(http, sandbox, GET_TOKEN, "http_500")
    callers = 8
    barrier = threading.Barrier(callers)
    codes: list[int] = []

    def call() -> None:
        with requests.Session() as session:
            barrier.wait(5)
            codes.append(token_call(session, sandbox).status_code)

    threads = [threading.Thread(target=call) for _ in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert sorted(codes) == [200] * (callers - 1) + [500]


def test_drop_on_cancel_really_cancels_but_the_client_gets_a_reset(
    sandbox: SandboxServer, http
) -> None:
    access_token = with_key(http, sandbox)
    payment = paid(http, sandbox, access_token)
    queue_fault(http, sandbox, CANCEL, "drop")
    sock = raw_post(sandbox, "/payments/cancel", {"imp_uid": payment["imp_uid"]}, access_token)
    with sock, pytest.raises(ConnectionResetError):  # a TCP RST: a FIN would read b""
        sock.recv(1024)
    after = get_payment(http, sandbox, access_token, payment["imp_uid"]).json()["response"]
    assert len(after["cancel_history"]) == len(payment["cancel_history"]) + 1
    assert after["status"] == "cancelled" and after["cancel_amount"] == payment["amount"]
    assert statuses(http, sandbox, CANCEL) == [None]
    # The caller that retries learns that it is done: there is nothing left to cancel.
    retry = cancel(http, sandbox, access_token, imp_uid=payment["imp_uid"])
    assert retry.json() == NOTHING_TO_CANCEL


def test_lost_on_cancel_resets_before_anything_is_processed(sandbox: SandboxServer, http) -> None:
    access_token = with_key(http, sandbox)
    payment = paid(http, sandbox, access_token)
    queue_fault(http, sandbox, CANCEL, "lost")
    with pytest.raises(requests.ConnectionError):
        cancel(http, sandbox, access_token, imp_uid=payment["imp_uid"])
    after = get_payment(http, sandbox, access_token, payment["imp_uid"]).json()["response"]
    assert after == payment
    assert cancel(http, sandbox, access_token, imp_uid=payment["imp_uid"]).json()["code"] == 0


def test_http_500_on_cancel_answers_before_anything_is_processed(
    sandbox: SandboxServer, http
) -> None:
    access_token = with_key(http, sandbox)
    payment = paid(http, sandbox, access_token)
    queue_fault(http, sandbox, CANCEL, "http_500")
    response = cancel(http, sandbox, access_token, imp_uid=payment["imp_uid"])
    assert (response.status_code, response.json()) == (500, SERVER_ERROR)
    after = get_payment(http, sandbox, access_token, payment["imp_uid"]).json()["response"]
    assert after == payment


def test_hang_processes_at_once_and_answers_after_hang_seconds() -> None:
    with start_sandbox(hang_seconds=0.5) as server, requests.Session() as http:
        access_token = with_key(http, server)
        payment = paid(http, server, access_token)
        queue_fault(http, server, CANCEL, "hang")
        # A caller that gives up does not know the outcome, but the cancel already happened:
        # the lookup below runs while the sandbox still holds the answer back.
        with pytest.raises(requests.ReadTimeout):
            url = f"{server.url}/payments/cancel"
            body = {"imp_uid": payment["imp_uid"], "amount": 100}
            http.post(url, json=body, headers={"Authorization": access_token}, timeout=0.1)
        after = get_payment(http, server, access_token, payment["imp_uid"]).json()["response"]
        assert after["cancel_amount"] == 100
        queue_fault(http, server, CANCEL, "hang")
        started = time.monotonic()
        response = cancel(http, server, access_token, imp_uid=payment["imp_uid"], amount=100)
        assert time.monotonic() - started >= 0.5
        assert response.json()["response"]["cancel_amount"] == 200


def test_trickle_headers_paces_the_status_line_within_a_read_timeout() -> None:
    with start_sandbox() as server, requests.Session() as http:
        access_token = with_key(http, server)
        payment = paid(http, server, access_token)
        queue_fault(http, server, CANCEL, "trickle_headers")
        body = {"imp_uid": payment["imp_uid"]}
        sock = raw_post(server, "/payments/cancel", body, access_token)
        with sock:
            started = time.monotonic()
            line = b""
            while not line.endswith(b"\r\n"):
                chunk = sock.recv(1024)  # each recv times out after 1 s: none does
                assert len(chunk) == 1, chunk  # one byte at a time
                line += chunk
            # 17 bytes at 0.2 s: far beyond one interval, though no byte took a second.
            assert time.monotonic() - started > 1
            assert line == b"HTTP/1.1 200 OK\r\n"
            # Processed before the answer started.
            after = get_payment(http, server, access_token, payment["imp_uid"]).json()
            assert after["response"]["status"] == "cancelled"


def test_shutdown_cuts_trickling_headers_short_with_a_reset() -> None:
    server = start_sandbox()
    with requests.Session() as http:
        queue_fault(http, server, GET_TOKEN, "trickle_headers")
    sock = raw_post(server, "/users/getToken", CREDENTIALS)
    with sock:
        assert sock.recv(1024) == b"H"
        started = time.monotonic()
        server.shutdown()
        with pytest.raises(ConnectionResetError):
            sock.recv(1024)
        assert time.monotonic() - started < 2


def test_pg_refusal_on_cancel_refuses_with_code_minus_1_and_changes_nothing(
    sandbox: SandboxServer, http
) -> None:
    access_token = with_key(http, sandbox)
    payment = paid(http, sandbox, access_token)
    queue_fault(http, sandbox, CANCEL, "pg_refusal")
    response = cancel(http, sandbox, access_token, imp_uid=payment["imp_uid"], amount=100)
    assert (response.status_code, response.json()) == (
        200,
        {
            "code": -1,
            "message": "[sandbox] PG사 거절: 부분취소가 불가능한 거래입니다.",
            "response": None,
        },
    )
    after = get_payment(http, sandbox, access_token, payment["imp_uid"]).json()["response"]
    assert after == payment  # the balance is all there
    assert cancel(http, sandbox, access_token, imp_uid=payment["imp_uid"]).json()["code"] == 0


def test_stall_processes_the_call_only_after_hang_seconds() -> None:
    with start_sandbox(hang_seconds=1.0) as server, requests.Session() as http:
        access_token = with_key(http, server)
        payment = paid(http, server, access_token)
        queue_fault(http, server, CANCEL, "stall")
        url = f"{server.url}/payments/cancel"
        body = {"imp_uid": payment["imp_uid"], "amount": 100}
        started = time.monotonic()
        with pytest.raises(requests.ReadTimeout):
            http.post(url, json=body, headers={"Authorization": access_token}, timeout=0.2)
        # The caller gave up and I'mport has not done it yet: a lookup sees no cancel.
        now = get_payment(http, server, access_token, payment["imp_uid"]).json()["response"]
        assert now["cancel_amount"] == 0
        deadline = time.monotonic() + 5
        while now["cancel_amount"] == 0:
            assert time.monotonic() < deadline, "the stalled cancel never ran"
            time.sleep(0.05)
            now = get_payment(http, server, access_token, payment["imp_uid"]).json()["response"]
        assert now["cancel_amount"] == 100
        assert time.monotonic() - started >= 1.0


def test_http_401_on_get_token_plays_rotated_credentials(sandbox: SandboxServer, http) -> None:
    queue_fault(http, sandbox, GET_TOKEN, "http_401")

    refused = token_call(http, sandbox)

    assert refused.status_code == 401
    assert refused.json() == {"code": -1, "message": "Unauthorized", "response": None}
    assert token_call(http, sandbox).status_code == 200  # one strike, then as before
