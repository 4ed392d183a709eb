"""What operators run the service with: /readyz, /metrics, JSON logs, request ids end to end.

Over real HTTP wherever it crosses the wire: I'mport is the sandbox over loopback, and the
metrics and log tests run gunicorn (gunicorn.conf.py, 2 workers) as `make run` does.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from billing_service.gateway import (
    REQUEST_ID,
    CardDetails,
    GatewayUnavailable,
    IamportClient,
    ProviderError,
    UnexpectedResponse,
)
from billing_service.observability.instrumentation import route_template
from billing_service.sandbox import DEFAULT_API_KEY, DEFAULT_API_SECRET

from ..support import (
    CALLER_KEY,
    CARD,
    CORPORATE_CARD,
    ISSUE_ROUTE,
    REJECTED_CARD,
    ROOT,
    TOKEN_ROUTE,
    VALID_BODY,
    LiveService,
    card_numbers_in,
    free_port,
    known_cards_in,
    poll,
    service_env,
)

AUTH = {"Authorization": f"Bearer {CALLER_KEY}"}
ISSUE = "/subscriptions/issue-billing"
CHARGES = "/subscriptions/payments"
AGAIN_ROUTE = "POST /subscribe/payments/again"
SERVER_ERROR_CARD = "4000-0000-0000-0010"  # the sandbox answers HTTP 500


def samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    """(name, labels, value) of every sample in a Prometheus text exposition."""
    return [
        (sample.name, sample.labels, sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    ]


def value(text: str, name: str, **labels: str) -> float:
    """The sum of ``name``'s samples whose labels include ``labels`` (0 when there are none)."""
    return sum(
        v
        for n, sample_labels, v in samples(text)
        if n == name and labels.items() <= sample_labels.items()
    )


# --- the gateway's hooks: observer and request id ------------------------------------------


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, int | None]] = []
        self.token_fetches = 0

    def on_call(self, operation: str, outcome: str, http_status: int | None, seconds: float):
        assert 0 <= seconds < 10
        self.calls.append((operation, outcome, http_status))

    def on_token_fetch(self) -> None:
        self.token_fetches += 1


def card(number: str) -> CardDetails:
    digits = number.replace("-", "")
    return CardDetails(number=digits, expiry="2031-07", birth="880101", pwd_2digit="47")


def test_the_gateway_tells_its_observer_about_every_call(sandbox):
    observer = Recorder()
    client = IamportClient(sandbox.url, DEFAULT_API_KEY, DEFAULT_API_SECRET, observer=observer)

    client.issue_billing_key("uid-1", card(CARD))
    with pytest.raises(ProviderError):
        client.issue_billing_key("uid-2", card(REJECTED_CARD))
    with pytest.raises(UnexpectedResponse):
        client.issue_billing_key("uid-3", card(SERVER_ERROR_CARD))
    client.get_billing_key("uid-1")
    assert client.find_payment("order-none") is None

    assert observer.token_fetches == 1
    assert observer.calls == [
        ("get_token", "ok", 200),
        ("issue_billing_key", "ok", 200),
        ("issue_billing_key", "ProviderError", 200),
        ("issue_billing_key", "UnexpectedResponse", 500),
        ("get_billing_key", "ok", 200),
        ("find_payment", "ProviderError", 404),
    ]


def test_a_call_that_gets_no_answer_is_observed_without_a_status():
    observer = Recorder()
    client = IamportClient(
        f"http://127.0.0.1:{free_port()}", "k", "s", observer=observer, connect_timeout=1
    )

    with pytest.raises(GatewayUnavailable):
        client.check_ready()

    assert observer.calls == [("get_token", "GatewayUnavailable", None)]


def test_a_failing_observer_changes_nothing(sandbox):
    class Broken:
        def on_call(self, *args: object) -> None:
            raise RuntimeError("observer bug")

        def on_token_fetch(self) -> None:
            raise RuntimeError("observer bug")

    client = IamportClient(sandbox.url, DEFAULT_API_KEY, DEFAULT_API_SECRET, observer=Broken())

    assert client.issue_billing_key("uid-1", card(CARD)).customer_uid == "uid-1"


def test_the_gateway_sends_the_current_request_id(sandbox):
    client = IamportClient(sandbox.url, DEFAULT_API_KEY, DEFAULT_API_SECRET)
    client.issue_billing_key("uid-0", card(CARD))  # no request id set: none sent

    token = REQUEST_ID.set("req-42")
    try:
        client.issue_billing_key("uid-1", card(CARD))
    finally:
        REQUEST_ID.reset(token)

    assert [c["request_id"] for c in sandbox.calls(ISSUE_ROUTE)] == [None, "req-42"]


def test_each_request_sends_its_own_id_to_import(client, sandbox):
    mine = client.post(ISSUE, json=VALID_BODY, headers={"X-Request-ID": "checkout-7"})
    generated = client.get(f"/subscriptions/billing-keys/{VALID_BODY['customer_uid']}")
    client.get("/healthz")  # no I'mport call

    assert mine.status_code == generated.status_code == 200
    assert [c["request_id"] for c in sandbox.calls(TOKEN_ROUTE)] == ["checkout-7"]
    assert [c["request_id"] for c in sandbox.calls(ISSUE_ROUTE)] == ["checkout-7"]
    [lookup] = sandbox.calls("GET /subscribe/customers/{customer_uid}")
    assert lookup["request_id"] == generated.headers["X-Request-ID"]
    assert REQUEST_ID.get() is None  # nothing left behind for the next request on this thread


@pytest.mark.parametrize(
    ("presented", "kept"),
    [
        ("order_20261127_0001", True),  # README's example: an order id is a plain token
        ("merchant_1764230400004", True),  # epoch milliseconds: no card number
        ("4242-4242-4242-4242", False),  # a card number is never echoed or logged
        ("4242.4242.4242.4242", False),
        ("bad id", False),
    ],
)
def test_a_plain_request_id_is_kept_and_one_holding_a_card_number_is_replaced(
    client, presented, kept
):
    answer = client.get("/healthz", headers={"X-Request-ID": presented})

    assert (answer.headers["X-Request-ID"] == presented) is kept
    if not kept:
        assert re.fullmatch("[0-9a-f]{32}", answer.headers["X-Request-ID"])


# --- metrics, in process -------------------------------------------------------------------


def test_route_templates_are_the_documented_paths():
    assert route_template("/subscriptions/billing-keys/<id:customer_uid>") == (
        "/subscriptions/billing-keys/{customer_uid}"
    )
    assert route_template("/subscriptions/payments/<imp_uid>/cancel") == (
        "/subscriptions/payments/{imp_uid}/cancel"
    )


def test_metrics_label_requests_by_route_template_never_by_id(client, sandbox):
    uid = "gildong_0001_1234"
    client.post(ISSUE, json={**VALID_BODY, "customer_uid": uid})
    client.get(f"/subscriptions/billing-keys/{uid}")
    client.get("/subscriptions/billing-keys/nobody-here-77")  # 404 from I'mport
    client.get(f"/no/such/path/{CARD}")  # 404: no route
    client.open("/healthz", method="BREW")  # any token is a method: one label for them all

    resp = client.get("/metrics")

    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("text/plain")
    text = resp.get_data(as_text=True)
    key = "/subscriptions/billing-keys/{customer_uid}"
    requests_total = "billing_http_requests_total"
    assert value(text, requests_total, endpoint=key, method="GET", status="200") == 1
    assert value(text, requests_total, endpoint=key, method="GET", status="404") == 1
    assert value(text, requests_total, endpoint="unmatched", status="404") == 1
    assert value(text, requests_total, endpoint="unmatched", method="other", status="405") == 1
    assert value(text, "billing_http_request_duration_seconds_count", endpoint=ISSUE) == 1
    assert value(text, "billing_iamport_calls_total", operation="get_billing_key") == 2
    for secret in (uid, "nobody-here-77", CARD, "BREW"):
        assert secret not in text


# --- through gunicorn: metrics across workers, JSON logs, request ids -----------------------


@pytest.fixture
def limited_service(sandbox) -> Iterator[LiveService]:
    # One issuance per card per worker (counters in memory, one set per worker): three
    # issuances of one card through 2 workers get at least one 429.
    service = LiveService(service_env(sandbox.url, BILLING_LIMIT_ISSUE_PER_CARD="1/hour"))
    yield service
    service.stop()


def test_metrics_add_up_every_worker_and_logs_follow_each_request(limited_service, sandbox):
    live = limited_service
    # Each worker started its checks and its consumer as it started (post_worker_init).
    ok = {"status": "ok", "message": None}
    checks = {"iamport": ok, "state_store": ok, "event_consumer": ok}

    def ready() -> bool:
        return requests.get(live.url + "/readyz", timeout=10).json() == {
            "status": "ready",
            "checks": checks,
        }

    assert poll(ready), requests.get(live.url + "/readyz", timeout=10).text

    # Enough fresh connections that both workers answer some (each line names its pid).
    healthz = 0
    while healthz < 20 or len(_pids(live, "/healthz")) < 2:
        assert healthz < 400, "one worker answered every request"
        headers = {"X-Request-ID": f"probe-{healthz}"}
        assert requests.get(live.url + "/healthz", headers=headers, timeout=10).status_code == 200
        healthz += 1
        live.wait_for(f'"request_id": "probe-{healthz - 1}"')

    issued = requests.post(
        live.url + ISSUE,
        json=VALID_BODY,
        headers={**AUTH, "X-Request-ID": "ops-issue-1"},
        timeout=10,
    )
    rejected = requests.post(
        live.url + ISSUE,
        json={**VALID_BODY, "card_number": REJECTED_CARD, "customer_uid": "ops-2"},
        headers=AUTH,
        timeout=10,
    )
    broken = requests.post(
        live.url + ISSUE,
        json={**VALID_BODY, "card_number": SERVER_ERROR_CARD, "customer_uid": "ops-3"},
        headers={**AUTH, "X-Request-ID": "ops-502"},
        timeout=10,
    )
    charge = {"customer_uid": VALID_BODY["customer_uid"], "amount": 900, "name": "구독"}
    paid = requests.post(
        live.url + CHARGES, json={**charge, "merchant_uid": "order-ops-1"}, headers=AUTH, timeout=10
    )
    assert (issued.status_code, rejected.status_code, broken.status_code) == (200, 402, 502)
    assert paid.status_code == 200
    imp_uid = paid.json()["payment"]["imp_uid"]
    limited = [
        requests.post(
            live.url + ISSUE,
            json={**VALID_BODY, "card_number": CORPORATE_CARD, "customer_uid": f"ops-limit-{i}"},
            headers=AUTH,
            timeout=10,
        ).status_code
        for i in range(3)
    ]
    assert limited.count(429) >= 1 and set(limited) <= {200, 429}

    # Every worker's numbers, whichever worker answers the scrape.
    scrapes = [requests.get(live.url + "/metrics", timeout=10) for _ in range(4)]
    live.wait_for('"GET /metrics 200"', count=4)
    text = scrapes[-1].text
    assert scrapes[-1].headers["Content-Type"].startswith("text/plain")
    total = "billing_http_requests_total"
    for scrape in scrapes:
        assert value(scrape.text, total, endpoint="/healthz", status="200") == healthz
    issues = 1 + limited.count(200)
    assert value(text, total, endpoint="/readyz", status="200") == 1
    assert value(text, total, endpoint=ISSUE, method="POST", status="200") == issues
    assert value(text, total, endpoint=ISSUE, status="402") == 1
    assert value(text, total, endpoint=ISSUE, status="502") == 1
    assert value(text, total, endpoint=ISSUE, status="429") == limited.count(429)
    latency = "billing_http_request_duration_seconds_count"
    assert value(text, latency, endpoint="/healthz") == healthz

    calls = "billing_iamport_calls_total"
    issuing = {"operation": "issue_billing_key"}
    assert value(text, calls, **issuing, outcome="ok", status="2xx") == issues
    assert value(text, calls, **issuing, outcome="ProviderError", status="2xx") == 1
    assert value(text, calls, **issuing, outcome="UnexpectedResponse", status="5xx") == 1
    assert value(text, calls, operation="charge", outcome="ok", status="2xx") == 1
    assert value(text, "billing_iamport_call_duration_seconds_count", operation="charge") == 1
    token_calls = sandbox.count(TOKEN_ROUTE)
    assert 1 <= token_calls <= 2  # at most one per worker
    assert value(text, calls, operation="get_token", outcome="ok") == token_calls
    assert value(text, "billing_iamport_token_fetches_total") == token_calls
    rejections = value(text, "billing_rate_limited_total", endpoint=ISSUE, limit="issue_per_card")
    assert rejections == limited.count(429)

    # No customer identifier and no card data in any label.
    labels = "\n".join(line.rsplit(" ", 1)[0] for line in text.splitlines())  # values dropped
    for identifier in (VALID_BODY["customer_uid"], "ops-2", "ops-limit-0", "order-ops-1", imp_uid):
        assert identifier not in text
    assert card_numbers_in(labels) == [] and known_cards_in(labels) == []
    endpoints = {s[1]["endpoint"] for s in samples(text) if "endpoint" in s[1]}
    assert endpoints <= {"/healthz", "/readyz", "/metrics", ISSUE, CHARGES}

    # Logs: every line is one JSON object; each request's line carries its request id, and so
    # do the lines written while serving it (the audit entry, the gateway failure's warning).
    entries = live.entries()
    by_id = {}
    for entry in entries:
        by_id.setdefault(entry.get("request_id"), []).append(entry)
    assert {"time", "level", "logger", "pid", "message"} <= set(entries[0])
    [issue_line] = [e for e in by_id["ops-issue-1"] if e["logger"] == "billing_service.access"]
    assert issue_line["route"] == ISSUE and issue_line["status"] == 200
    assert issue_line["caller"] == "checkout" and issue_line["duration_ms"] > 0
    [audit] = [e for e in by_id["ops-issue-1"] if e["logger"] == "billing_service.audit"]
    assert (audit["action"], audit["customer_uid"], audit["outcome"]) == (
        "issue",
        VALID_BODY["customer_uid"],
        "ok",
    )
    loggers = {e["logger"] for e in by_id["ops-502"]}
    expected = {"billing_service.access", "billing_service.audit", "billing_service.api.errors"}
    assert expected <= loggers
    charge_line = next(
        e for e in live.request_entries() if e["request_id"] == paid.headers["X-Request-ID"]
    )
    assert charge_line["route"] == CHARGES and charge_line["status"] == 200

    # ... and the I'mport calls each request caused carried the same X-Request-ID.
    [issue_call] = [c for c in sandbox.calls(ISSUE_ROUTE) if c["request_id"] == "ops-issue-1"]
    assert issue_call["status"] == 200
    [charge_call] = sandbox.calls(AGAIN_ROUTE)
    assert charge_call["request_id"] == paid.headers["X-Request-ID"]
    # The rest are the token fetches of each worker's readiness check, under its own id.
    served = {e["request_id"] for e in live.request_entries()} | {"readiness-iamport"}
    assert all(c["request_id"] in served for c in sandbox.admin("GET", "calls")["calls"])
    assert card_numbers_in(live.log()) == [] and known_cards_in(live.log()) == []


def _pids(live: LiveService, path: str) -> set[int]:
    return {e["pid"] for e in live.request_entries() if e["path"] == path}


def test_a_given_metrics_directory_is_used_and_emptied_at_start(sandbox, tmp_path):
    directory = tmp_path / "metrics"
    directory.mkdir()
    # An earlier run's numbers, as a worker of it would have left them.
    subprocess.run(
        [
            sys.executable,
            "-c",
            "from prometheus_client import Counter; "
            "Counter('billing_http_requests', '', ('method', 'endpoint', 'status'))"
            ".labels('GET', '/healthz', '200').inc(1000)",
        ],
        env={"PROMETHEUS_MULTIPROC_DIR": str(directory)},
        check=True,
    )
    assert list(directory.glob("*.db"))

    service = LiveService(service_env(sandbox.url, PROMETHEUS_MULTIPROC_DIR=str(directory)))
    try:
        requests.get(service.url + "/healthz", timeout=10)
        text = requests.get(service.url + "/metrics", timeout=10).text
    finally:
        service.stop()

    assert value(text, "billing_http_requests_total", endpoint="/healthz") == 1
    assert directory.is_dir() and list(directory.glob("*.db"))  # the operator's: kept


def test_every_line_is_json_even_on_a_bad_start():
    result = subprocess.run(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "IAMPORT_API_KEY": "only-the-key", "PORT": "0"},
        capture_output=True,
        text=True,
        timeout=30,
    )

    assert result.returncode != 0
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert any("Set both IAMPORT_API_KEY" in line["message"] for line in lines)
