"""The service as operators run it: gunicorn with gunicorn.conf.py, over real HTTP.

These tests also scan everything the processes wrote (request lines, gunicorn's log, the app's
events, all JSON lines on stdout) for the card data they sent.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import requests

from billing_service.sandbox import portone_v2

from ..sandbox import helpers
from ..support import (
    CALLER_KEY,
    CARD,
    PROVIDERS,
    REJECTED_CARD,
    SANDBOX_MODE,
    TOKEN_ROUTE,
    V1,
    V2,
    VALID_BODY,
    LiveService,
    card_numbers_in,
    known_cards_in,
    service_env,
)
from .test_subscriptions import SECRET as EVENT_SECRET
from .test_subscriptions import Subscriber, events_of

URL = "/subscriptions/issue-billing"
SECRET_MARKERS = ("imp_sandbox_secret", portone_v2.DEFAULT_API_SECRET, CALLER_KEY)
JSON = {"Content-Type": "application/json"}


def card_data_in(text: str) -> list[str]:
    """Card numbers, and the test birth date, password and expiry, wherever they appear."""
    hits = card_numbers_in(text) + known_cards_in(text)
    return hits + [v for v in ("880101", "=47", '"47"', "2031-07", "203107") if v in text]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_make_run_mode_serves_the_seed_form_offline(tmp_path, provider):
    # Sandbox mode, no credentials: gunicorn.conf.py starts the bundled sandbox (of the provider
    # chosen), as `make run` (`make run PROVIDER=portone_v2`) does.
    service = LiveService({**SANDBOX_MODE, "BILLING_PROVIDER": provider})
    try:
        resp = requests.post(f"{service.url}{URL}", data=VALID_BODY, timeout=10)

        assert resp.status_code == 200
        assert resp.json()["status"] == "success"
        assert resp.json()["message"] == "Billing has successfully issued"
    finally:
        service.stop()
    assert "SANDBOX MODE" in service.log()


@pytest.mark.both_providers
def test_flows_leave_no_card_data_or_secret_in_any_log(live_service, sandbox):
    url = live_service.url + URL
    auth = {"Authorization": f"Bearer {CALLER_KEY}"}
    flows = [
        ("json", {**VALID_BODY}),
        ("form", {**VALID_BODY}),
        ("json", {**VALID_BODY, "card_number": REJECTED_CARD}),  # 402
        ("json", {**VALID_BODY, "card_number": "4000-0000-0000-0010"}),  # 502
        ("json", {**VALID_BODY, "card_number": "4000-0000-0000-0044"}),  # 503
        ("json", {**VALID_BODY, "card_number": "4242424242424241"}),  # 422 Luhn
        ("json", {**VALID_BODY, "surprise": CARD}),  # 422 unknown field
    ]
    statuses = []
    for kind, body in flows:
        sent = {"json": body} if kind == "json" else {"data": body}
        statuses.append(requests.post(url, headers=auth, timeout=10, **sent).status_code)
    # Card data in a query string must not reach the logs either.
    statuses.append(
        requests.post(f"{url}?card_number={CARD}", headers=auth, json={}, timeout=10).status_code
    )
    statuses.append(requests.post(url, json=VALID_BODY, timeout=10).status_code)  # 401
    # ... nor card data put in a path by mistake.
    in_path = requests.post(f"{url}/{CARD}", headers=auth, json=VALID_BODY, timeout=10)
    statuses.append(in_path.status_code)
    in_id = requests.post(url, headers={**auth, "X-Request-ID": CARD}, json={}, timeout=10)
    statuses.append(in_id.status_code)

    # The rest of the lifecycle: charge, look up, cancel, delete.
    charge = {"customer_uid": VALID_BODY["customer_uid"], "amount": 9900, "name": "구독"}
    paid = requests.post(
        f"{live_service.url}/subscriptions/payments",
        headers=auth,
        json={**charge, "merchant_uid": "order-1"},
        timeout=10,
    )
    statuses.append(paid.status_code)
    imp_uid = paid.json()["payment"]["imp_uid"]
    for method, path, body in [
        ("GET", f"/subscriptions/payments/{imp_uid}", None),
        ("POST", f"/subscriptions/payments/{imp_uid}/cancel", {"reason": "test"}),
        ("GET", "/subscriptions/billing-keys/gildong_0001_1234", None),
        ("DELETE", "/subscriptions/billing-keys/gildong_0001_1234", None),
    ]:
        resp = requests.request(
            method, live_service.url + path, headers=auth, json=body, timeout=10
        )
        statuses.append(resp.status_code)

    assert statuses[:7] == [200, 200, 402, 502, 503, 422, 422]  # issuance flows
    assert statuses[7:11] == [400, 401, 404, 422]  # query, no key, path, request id
    assert statuses[11:] == [200] * 5  # charge, look up, cancel, look up key, delete
    # Each request's line has "METHOD path status" as its message.
    live_service.wait_for('"POST /subscriptions/issue-billing/[masked] 404"')
    live_service.wait_for('"POST /subscriptions/issue-billing 422"', count=3)
    live_service.wait_for('"DELETE /subscriptions/billing-keys/gildong_0001_1234 200"')
    log = live_service.log()
    issuances = [
        e
        for e in live_service.request_entries()
        if e["method"] == "POST" and e["path"].startswith("/subscriptions/issue-billing")
    ]
    assert len(issuances) == 11
    [in_path_line] = [e for e in issuances if e["status"] == 404]
    assert (in_path_line["path"], in_path_line["route"]) == (
        "/subscriptions/issue-billing/[masked]",
        None,
    )
    assert card_data_in(log) == []
    for secret in SECRET_MARKERS:
        assert secret not in log
    if sandbox.provider == V1:  # V2 has no token: its secret goes with every call
        assert sandbox.count(TOKEN_ROUTE) <= 2  # at most one per worker


def test_request_lines_have_request_ids_and_no_query_strings(live_service):
    resp = requests.get(f"{live_service.url}/healthz?probe=1", headers={"X-Request-ID": "probe-7"})

    assert resp.json() == {"status": "ok"}
    live_service.wait_for('"request_id": "probe-7"')
    [line] = [line for line in live_service.log().splitlines() if '"probe-7"' in line]
    assert "probe=1" not in line
    entry = json.loads(line)
    assert entry["logger"] == "billing_service.access"
    assert (entry["method"], entry["route"], entry["path"], entry["status"]) == (
        "GET",
        "/healthz",
        "/healthz",
        200,
    )


def test_the_log_scan_finds_card_data_in_any_format():
    assert card_data_in("card 4242-4242-4242-4242 seen") != []
    assert card_data_in("pan=4242 4242 4242 4242") != []
    assert card_data_in('{"n": "5555555555554444"}') != []
    assert card_data_in("request_id=0f8918954405811a uid=imps_123456789012") == []


def test_the_webhook_token_and_card_like_ids_reach_no_log_and_no_metric(sandbox):
    token = "live-webhook-token-3f9a1c7e"
    auth = {"Authorization": f"Bearer {CALLER_KEY}"}
    # A key whose customer_uid is a card number, made before such ids were refused.
    http = requests.Session()
    helpers.issue(http, sandbox, CARD, helpers.token(http, sandbox))
    service = LiveService(service_env(sandbox.url, BILLING_WEBHOOK_TOKEN=token))
    try:
        notices = f"{service.url}/webhooks/iamport/{token}"
        notice = {"imp_uid": "imps_000000000001", "merchant_uid": "order-x", "status": "paid"}
        statuses = [
            requests.post(notices, json=notice, timeout=10).status_code,
            requests.post(notices, data="{", timeout=10, headers=JSON).status_code,
            requests.post(f"{notices}/more", json=notice, timeout=10).status_code,
        ]
        key_url = f"{service.url}/subscriptions/billing-keys/{CARD}"
        statuses.append(requests.get(key_url, headers=auth, timeout=10).status_code)
        statuses.append(requests.delete(key_url, headers=auth, timeout=10).status_code)
        metrics = requests.get(f"{service.url}/metrics", timeout=10).text
        service.wait_for('"DELETE /subscriptions/billing-keys/[masked] 200"')
    finally:
        service.stop()

    assert statuses == [200, 400, 404, 200, 200]
    log = service.log()
    assert token not in log and token not in metrics
    assert "/webhooks/iamport/{token}" in metrics  # the route template, never the path
    paths = {e["path"] for e in service.request_entries() if "webhooks" in e["path"]}
    assert paths == {"/webhooks/iamport/<token>", "/webhooks/iamport/<token>/more"}
    audited = [e for e in service.entries() if e["logger"] == "billing_service.audit"]
    assert [e.get("customer_uid") for e in audited if e["action"] in ("lookup", "delete")] == [
        "[masked]",
        "[masked]",
    ]
    assert known_cards_in(log) == [] and card_numbers_in(log) == []


def test_make_run_v2_sandbox_runs_the_whole_subscription_loop_offline(subscriber: Subscriber):
    # `make run PROVIDER=portone_v2` with a subscriber: the bundled V2 sandbox runs the schedule
    # when its clock is moved, its signed webhook comes back to /webhooks/portone (verified with
    # the secret the master made and gave it), and the subscriber gets the signed events.
    env = {**SANDBOX_MODE, "BILLING_PROVIDER": V2, "BILLING_EVENT_URLS": subscriber.url}
    service = LiveService({**env, "BILLING_EVENT_SECRET": EVENT_SECRET})
    try:
        [started] = [line for line in service.log().splitlines() if "sandbox started at" in line]
        sandbox_url = json.loads(started)["message"].rsplit(" ", 1)[-1]
        issued = requests.post(f"{service.url}{URL}", json=VALID_BODY, timeout=10)
        assert issued.status_code == 200
        at = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
        charge = {"merchant_uid": "loop-1", "amount": 9900, "name": "월간 구독", "schedule_at": at}
        body = {"customer_uid": VALID_BODY["customer_uid"], "schedules": [charge]}
        scheduled = requests.post(f"{service.url}/subscriptions/schedules", json=body, timeout=10)
        assert scheduled.status_code == 200, scheduled.text

        clock = requests.post(f"{sandbox_url}/__sandbox__/clock", json={"advance": 600}, timeout=10)
        assert len(clock.json()["executed"]) == 1
        [executed] = events_of(subscriber.wait_for(1), "schedule.executed")
        imp_uid = executed["data"]["payment"]["imp_uid"]
        cancel = f"{service.url}/subscriptions/payments/{imp_uid}/cancel"
        assert requests.post(cancel, json={"reason": "해지"}, timeout=10).status_code == 200
        [cancelled] = events_of(subscriber.wait_for(2), "payment.cancelled")
    finally:
        service.stop()

    assert executed["data"]["payment"]["merchant_uid"] == "loop-1"
    assert executed["data"]["source"] == "notice"  # the verified webhook, not a look-up
    assert cancelled["data"]["payment"]["status"] == "cancelled"
    assert len(subscriber.received) == 2 and subscriber.rejected == 0
    audits = [e for e in service.entries() if e.get("action") == "webhook"]
    assert {"verified"} <= {a["outcome"] for a in audits} and {a["status"] for a in audits} == {200}
    assert card_data_in(service.log()) == []
