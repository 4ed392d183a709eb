"""I'mport faults, through a live gunicorn: each ends in its documented error within its deadline,
and the service keeps answering other requests meanwhile.

Magic inputs of the sandbox (billing_service/sandbox/README.md): issuance cards
4000-0000-0000-0010 (HTTP 500), -0028 (hang), -0036 (HTML page), -0044 (TCP reset) and -0051
(slow trickle: headers at once, then one body byte every 0.2 s); the merchant_uid prefix
fault-trickle- trickles a charge's answer; the `unauthorized` switch answers 401 to every
business call.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator

import pytest
import requests

from billing_service import create_app
from billing_service.gateway import (
    CardDetails,
    GatewayTimeout,
    IamportClient,
    UnexpectedResponse,
)
from billing_service.gateway.http import MAX_RESPONSE_BYTES
from billing_service.sandbox import DEFAULT_API_KEY, DEFAULT_API_SECRET

from ..support import (
    CALLER_KEY,
    ISSUE_ROUTE,
    TOKEN_ANSWER,
    TOKEN_ROUTE,
    VALID_BODY,
    InFlight,
    LiveService,
    Sandbox,
    envelope,
    free_port,
    service_env,
)

ISSUE = "/subscriptions/issue-billing"
CHARGES = "/subscriptions/payments"
AGAIN_ROUTE = "POST /subscribe/payments/again"
AUTH = {"Authorization": f"Bearer {CALLER_KEY}"}

FAULT_500 = "4000-0000-0000-0010"
FAULT_HANG = "4000-0000-0000-0028"
FAULT_NOT_JSON = "4000-0000-0000-0036"
FAULT_RESET = "4000-0000-0000-0044"
FAULT_TRICKLE = "4000-0000-0000-0051"

CONNECT_TIMEOUT = 0.5
READ_TIMEOUT = 1.5
DEADLINE = CONNECT_TIMEOUT + READ_TIMEOUT  # the most one I'mport call may take
# A bound, not a speed target: loaded CI machines are slow, a fault that is not cut off is not
# (the hang lasts 5 s, the trickle well over a minute).
MARGIN = 1.5
# How long a test waits for a faulty request's answer: a few deadlines, then it is a failure.
ANSWER_WAIT = DEADLINE * 3 + MARGIN + 10

TIMEOUTS = {
    "IAMPORT_CONNECT_TIMEOUT": str(CONNECT_TIMEOUT),
    "IAMPORT_READ_TIMEOUT": str(READ_TIMEOUT),
}


@pytest.fixture(scope="module")
def service(sandbox_server: Sandbox) -> Iterator[LiveService]:
    """One gunicorn (2 workers x 8 threads, gunicorn.conf.py) for the module: boots are slow."""
    live = LiveService(service_env(sandbox_server.url, **TIMEOUTS))
    yield live
    live.stop()


_uids = iter(range(1_000_000))


def fresh_uid(prefix: str = "faults") -> str:
    return f"{prefix}-{next(_uids)}"


def issue(url: str, card: str = VALID_BODY["card_number"], uid: str | None = None):
    body = {**VALID_BODY, "card_number": card, "customer_uid": uid or fresh_uid()}
    return requests.post(url + ISSUE, json=body, headers=AUTH, timeout=30)


def wait_until(condition: Callable[[], bool], timeout: float = 10) -> None:
    """Poll the sandbox's call log (an observable event, not a guess at how long things take)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for the sandbox"
        time.sleep(0.01)


def answered_call_in_flight(sandbox: Sandbox, route: str) -> Callable[[], bool]:
    """The fault call has reached the sandbox, been decided (and logged), and is still running.

    (A first call may be a quick 401: the sandbox was reset, the service's token is stale.)
    """

    def check() -> bool:
        log = sandbox.admin("GET", "calls")
        decided = any(
            f"{c['method']} {c['route']}" == route and c["status"] == 200 for c in log["calls"]
        )
        return decided and log["in_flight"].get(route, 0) >= 1

    return check


def assert_error(resp: requests.Response, status: int, code: str) -> dict:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert (body["status"], body["code"]) == ("failed", code)
    return body


def assert_still_serving(url: str) -> None:
    """A health check and a normal issuance both answer as usual."""
    assert requests.get(url + "/healthz", timeout=10).json() == {"status": "ok"}
    issued = issue(url)
    assert issued.status_code == 200, issued.text


# --- slow faults: the service answers others while the call waits --------------------------


@pytest.mark.parametrize(
    "card",
    [
        FAULT_HANG,  # no answer at all: the read timeout fires
        FAULT_TRICKLE,  # a byte every 0.2 s: only the total deadline ends it
    ],
    ids=["hang", "trickle"],
)
def test_a_slow_issuance_is_cut_off_at_its_deadline_while_others_are_served(service, sandbox, card):
    slow = InFlight(lambda: issue(service.url, card))
    wait_until(answered_call_in_flight(sandbox, ISSUE_ROUTE))

    assert_still_serving(service.url)
    assert not slow.done.is_set()  # both answered while the slow call was still waiting

    assert_error(slow.result(ANSWER_WAIT), 504, "gateway_timeout")
    assert slow.elapsed < DEADLINE + MARGIN


def test_a_trickling_charge_is_cut_off_then_reconciled_while_others_are_served(service, sandbox):
    uid = fresh_uid("trickle-charge")
    assert issue(service.url, uid=uid).status_code == 200
    charge = {"customer_uid": uid, "merchant_uid": "fault-trickle-1", "amount": 9900, "name": "n"}

    slow = InFlight(
        lambda: requests.post(service.url + CHARGES, json=charge, headers=AUTH, timeout=30)
    )
    wait_until(answered_call_in_flight(sandbox, AGAIN_ROUTE))

    assert_still_serving(service.url)
    assert not slow.done.is_set()

    resp = slow.result(ANSWER_WAIT)
    # The charge was sent: it is never sent again, but looked up, and I'mport did charge it.
    assert resp.status_code == 200, resp.text
    assert resp.json()["reconciled"] is True
    assert resp.json()["payment"]["status"] == "paid"
    # (A 401 first, if this worker's token went stale with the sandbox reset, is not a charge.)
    assert [c["status"] for c in sandbox.calls(AGAIN_ROUTE) if c["status"] != 401] == [200]
    assert slow.elapsed < DEADLINE + MARGIN


# --- fast faults: the documented error, and the service is fine afterwards ------------------


@pytest.mark.parametrize(
    ("card", "status", "code"),
    [
        (FAULT_RESET, 503, "gateway_unavailable"),
        (FAULT_500, 502, "gateway_error"),
        (FAULT_NOT_JSON, 502, "gateway_error"),
    ],
    ids=["reset", "5xx", "not-json"],
)
def test_a_failing_issuance_is_its_documented_error(service, sandbox, card, status, code):
    failing = InFlight(lambda: issue(service.url, card))
    assert_still_serving(service.url)  # at the same time

    assert_error(failing.result(ANSWER_WAIT), status, code)
    assert failing.elapsed < DEADLINE + MARGIN
    assert_still_serving(service.url)  # and afterwards, on connections that were reset or cut


def test_refused_tokens_are_refreshed_once_then_a_502(service, sandbox):
    sandbox.admin("POST", "config", unauthorized=True)

    failing = InFlight(lambda: issue(service.url))
    assert requests.get(service.url + "/healthz", timeout=10).status_code == 200

    assert_error(failing.result(ANSWER_WAIT), 502, "gateway_auth_failed")
    assert failing.elapsed < 2 * DEADLINE + MARGIN  # the call and its one retry
    # Exactly one refresh: two refused calls with one getToken between them. (Whether a token
    # fetch came first depends on what the worker had cached.)
    calls = [f"{c['method']} {c['route']}" for c in sandbox.admin("GET", "calls")["calls"]]
    issues = [i for i, route in enumerate(calls) if route == ISSUE_ROUTE]
    assert len(issues) == 2
    assert calls[issues[0] : issues[1]].count(TOKEN_ROUTE) == 1
    assert [c["status"] for c in sandbox.calls(ISSUE_ROUTE)] == [401, 401]

    sandbox.admin("POST", "config", unauthorized=False)
    assert_still_serving(service.url)  # I'mport is back: so is the service


def test_refused_connections_are_503_and_the_service_keeps_serving(sandbox):
    live = LiveService(service_env(f"http://127.0.0.1:{free_port()}", **TIMEOUTS))
    try:
        failing = InFlight(lambda: issue(live.url))
        assert requests.get(live.url + "/healthz", timeout=10).json() == {"status": "ok"}

        assert_error(failing.result(ANSWER_WAIT), 503, "gateway_unavailable")
        assert failing.elapsed < DEADLINE + MARGIN
        assert requests.get(live.url + "/healthz", timeout=10).json() == {"status": "ok"}
    finally:
        live.stop()


# --- the gateway's deadline and size cap on their own ----------------------------------------

TRICKLE_CARD = CardDetails(
    number=FAULT_TRICKLE.replace("-", ""), expiry="2031-07", birth="880101", pwd_2digit="47"
)


def test_a_trickling_answer_ends_at_connect_plus_read_timeout(sandbox):
    client = IamportClient(
        sandbox.url, DEFAULT_API_KEY, DEFAULT_API_SECRET, connect_timeout=0.2, read_timeout=0.5
    )
    started = time.monotonic()

    with pytest.raises(GatewayTimeout) as info:
        client.issue_billing_key("trickle", TRICKLE_CARD)

    # Every byte came within the read timeout; only the total deadline could end the call.
    assert time.monotonic() - started < 0.2 + 0.5 + MARGIN
    assert info.value.request_sent is True


def test_a_cut_off_connection_is_not_reused(sandbox):
    # One thread, one pooled connection: if the connection still trickling bytes went back to
    # the pool, the next call would read them as its answer.
    app = create_app(
        service_env(sandbox.url, IAMPORT_CONNECT_TIMEOUT="0.2", IAMPORT_READ_TIMEOUT="0.5")
    )
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {CALLER_KEY}"

    cut = client.post(ISSUE, json={**VALID_BODY, "card_number": FAULT_TRICKLE})
    after = client.post(ISSUE, json=VALID_BODY)

    assert cut.status_code == 504
    assert after.status_code == 200, after.get_data(as_text=True)


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_answers_are_capped_at_1_mib(chunked, canned):
    card = CardDetails(number="4242424242424242", expiry="2031-07", birth="880101")
    key = {"customer_uid": "u", "inserted": 1, "updated": 1, "customer_name": ""}
    empty = len(json.dumps(envelope(key)).encode())
    client = IamportClient(canned.url, DEFAULT_API_KEY, DEFAULT_API_SECRET)
    canned.add(200, TOKEN_ANSWER)
    for size in (MAX_RESPONSE_BYTES, MAX_RESPONSE_BYTES + 1):
        key["customer_name"] = "x" * (size - empty)
        big = json.dumps(envelope(key)).encode()
        assert len(big) == size
        canned.add(200, big, chunked=chunked)

        if size <= MAX_RESPONSE_BYTES:
            assert client.issue_billing_key("u", card).customer_uid == "u"
        else:
            with pytest.raises(UnexpectedResponse):
                client.issue_billing_key("u", card)
