"""Every error the service documents, with its status, code and JSON shape."""

from __future__ import annotations

import json

import pytest
import requests

from billing_service import create_app
from billing_service.extensions import shared

from ..support import (
    CALLER_KEY,
    ISSUE_ROUTE,
    REJECTED_CARD,
    TOKEN_ROUTE,
    VALID_BODY,
    free_port,
    service_env,
)

URL = "/subscriptions/issue-billing"

# Magic cards of the sandbox (see billing_service/sandbox/README.md).
FAULT_500 = "4000-0000-0000-0010"
FAULT_HANG = "4000-0000-0000-0028"
FAULT_NOT_JSON = "4000-0000-0000-0036"
FAULT_RESET = "4000-0000-0000-0044"


def assert_error(resp, status: int, code: str) -> dict:
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == "application/json"
    body = resp.get_json()
    assert body["status"] == "failed"
    assert body["code"] == code
    assert isinstance(body["message"], str) and body["message"]
    assert body["request_id"] == resp.headers["X-Request-ID"]
    return body


def test_card_rejected_carries_imports_message_and_code(client):
    resp = client.post(URL, json={**VALID_BODY, "card_number": REJECTED_CARD})

    body = assert_error(resp, 402, "card_rejected")
    assert body["message"].startswith("카드정보 인증 및 빌키 발급에 실패하였습니다.")
    assert body["gateway_code"] == -1


def test_pg_not_configured_is_a_rejection_too(client):
    resp = client.post(URL, json={**VALID_BODY, "pg": "unconfigured"})

    body = assert_error(resp, 402, "card_rejected")
    assert body["gateway_code"] == 1
    assert body["message"] == "비인증결제모듈 사용정보를 찾을 수 없습니다."


@pytest.mark.parametrize("header", [None, "Bearer wrong-key", CALLER_KEY, f"Basic {CALLER_KEY}"])
def test_unauthorized_without_a_known_bearer_key(client, sandbox, header):
    headers = {"Authorization": header} if header else {}
    client.environ_base.pop("HTTP_AUTHORIZATION")

    resp = client.post(URL, json=VALID_BODY, headers=headers)

    assert_error(resp, 401, "unauthorized")
    assert resp.headers["WWW-Authenticate"] == "Bearer"
    assert sandbox.counts() == {}


def test_every_configured_caller_is_accepted(app):
    from ..support import OTHER_CALLER_KEY

    resp = app.test_client().post(
        URL, json=VALID_BODY, headers={"Authorization": f"Bearer {OTHER_CALLER_KEY}"}
    )

    assert resp.status_code == 200


def test_unknown_path_is_a_json_404(client):
    assert_error(client.get("/subscriptions/nope"), 404, "not_found")


def test_wrong_method_is_a_json_405_with_allow(client):
    resp = client.get(URL)

    assert_error(resp, 405, "method_not_allowed")
    assert set(resp.headers["Allow"].replace(" ", "").split(",")) >= {"POST"}


def test_body_over_16_kib_is_413(client, sandbox):
    resp = client.post(URL, json={**VALID_BODY, "customer_addr": "x" * 17_000})

    assert_error(resp, 413, "payload_too_large")
    assert sandbox.counts() == {}


def test_chunked_body_over_16_kib_is_413_not_truncated(live_service, sandbox):
    body = json.dumps({**VALID_BODY, "customer_addr": "x" * 17_000}).encode()

    resp = requests.post(
        live_service.url + URL,
        data=iter([body[:8000], body[8000:]]),  # a generator body is sent chunked
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {CALLER_KEY}"},
        timeout=10,
    )

    assert resp.status_code == 413
    assert resp.json()["code"] == "payload_too_large"
    # Only the workers' readiness checks fetched a token: nothing of the body reached I'mport.
    assert set(sandbox.counts()) <= {TOKEN_ROUTE}


def test_chunked_body_under_the_limit_is_accepted(live_service):
    body = json.dumps(VALID_BODY).encode()

    resp = requests.post(
        live_service.url + URL,
        data=iter([body[:20], body[20:]]),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {CALLER_KEY}"},
        timeout=10,
    )

    assert resp.status_code == 200


def test_body_of_exactly_16_kib_is_accepted_and_one_byte_more_is_not(client):
    padding = 16 * 1024 - len(json.dumps({**VALID_BODY, "customer_addr": ""}).encode())
    exact = json.dumps({**VALID_BODY, "customer_addr": "x" * padding})

    at_limit = client.post(URL, data=exact, content_type="application/json")
    over = client.post(URL, data=exact + " ", content_type="application/json")

    assert at_limit.status_code == 422  # customer_addr too long: the body itself was read
    assert over.status_code == 413


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/xml", "multipart/form-data; boundary=x"]
)
def test_body_neither_json_nor_form_is_415(client, content_type):
    resp = client.post(URL, data="card_number=4242424242424242", content_type=content_type)

    assert_error(resp, 415, "unsupported_media_type")


def test_unparseable_json_is_400(client):
    resp = client.post(URL, data='{"card_number": "4242', content_type="application/json")

    assert_error(resp, 400, "invalid_json")


def test_an_integer_too_long_to_parse_is_400_not_500(client):
    body = '{"card_number": ' + "9" * 5000 + "}"

    assert_error(client.post(URL, data=body, content_type="application/json"), 400, "invalid_json")


def test_absurdly_nested_json_is_400_not_500(client):
    resp = client.post(URL, data="[" * 5000 + "]" * 5000, content_type="application/json")

    assert_error(resp, 400, "invalid_json")


def test_validation_error_lists_fields(client):
    body = assert_error(client.post(URL, json={"customer_uid": "u"}), 422, "invalid_request")

    assert set(body["errors"]) == {"card_number", "expiry", "birth"}


@pytest.mark.parametrize(
    ("card", "code"),
    [(FAULT_500, "gateway_error"), (FAULT_NOT_JSON, "gateway_error")],
)
def test_unusable_import_answers_are_502(client, card, code):
    assert_error(client.post(URL, json={**VALID_BODY, "card_number": card}), 502, code)


def test_refused_credentials_are_502_not_401(sandbox):
    app = create_app(service_env(sandbox.url, IAMPORT_API_SECRET="not-the-secret"))
    client = app.test_client()

    resp = client.post(URL, json=VALID_BODY, headers={"Authorization": f"Bearer {CALLER_KEY}"})

    body = assert_error(resp, 502, "gateway_auth_failed")
    assert "not-the-secret" not in resp.get_data(as_text=True)
    assert "imp_key" not in body["message"]
    assert sandbox.count(TOKEN_ROUTE) == 1
    assert sandbox.count(ISSUE_ROUTE) == 0


def test_connection_refused_is_503(sandbox):
    app = create_app(service_env(f"http://127.0.0.1:{free_port()}"))

    resp = app.test_client().post(
        URL, json=VALID_BODY, headers={"Authorization": f"Bearer {CALLER_KEY}"}
    )

    assert_error(resp, 503, "gateway_unavailable")


def test_connection_reset_is_503(client, sandbox):
    resp = client.post(URL, json={**VALID_BODY, "card_number": FAULT_RESET})

    assert_error(resp, 503, "gateway_unavailable")
    assert sandbox.count(ISSUE_ROUTE) == 1


def test_no_answer_within_the_read_timeout_is_504(sandbox):
    app = create_app(service_env(sandbox.url, IAMPORT_READ_TIMEOUT="0.3"))

    resp = app.test_client().post(
        URL,
        json={**VALID_BODY, "card_number": FAULT_HANG},
        headers={"Authorization": f"Bearer {CALLER_KEY}"},
    )

    assert_error(resp, 504, "gateway_timeout")


def test_unexpected_exception_is_a_json_500_without_internals(app, monkeypatch):
    app.config["PROPAGATE_EXCEPTIONS"] = False
    client = app.test_client()

    def explode(*args, **kwargs):
        raise RuntimeError("boom 4242424242424242 /srv/app.py")

    monkeypatch.setattr(shared(app).gateway, "issue_billing_key", explode)
    resp = client.post(URL, json=VALID_BODY, headers={"Authorization": f"Bearer {CALLER_KEY}"})

    assert_error(resp, 500, "internal_error")
    text = resp.get_data(as_text=True)
    assert "4242" not in text and "boom" not in text and ".py" not in text


def test_caller_request_id_is_echoed(client):
    resp = client.post(URL, json={}, headers={"X-Request-ID": "order-42.retry-1"})

    assert resp.headers["X-Request-ID"] == "order-42.retry-1"
    assert resp.get_json()["request_id"] == "order-42.retry-1"


@pytest.mark.parametrize(
    "request_id", ["x" * 200, "4242424242424242", "id 1", "4242-4242-4242-4242"]
)
def test_unsafe_request_id_is_replaced(client, request_id):
    resp = client.post(URL, json={}, headers={"X-Request-ID": request_id})

    assert len(resp.headers["X-Request-ID"]) == 32
    assert request_id not in resp.get_data(as_text=True)


@pytest.mark.parametrize(
    "query",
    [
        "card_number=4242424242424242",
        "q=4242-4242-4242-4242",
        "x=4242%204242%204242%204242",
        "q=4242.4242.4242.4242",  # as card-like ids are written (issue 16)
        "q=order_4242_4242_4242_4242",
    ],
)
def test_a_card_number_in_the_query_string_is_refused(client, sandbox, query):
    resp = client.post(f"{URL}?{query}", json=VALID_BODY)

    body = assert_error(resp, 400, "card_data_in_url")
    assert "4242" not in json.dumps(body)
    assert sandbox.counts() == {}


def test_other_digits_in_the_query_string_are_fine(client):
    resp = client.get("/subscriptions/billing-keys/nobody?ts=20261127123456789")

    assert resp.status_code == 404
    assert resp.get_json()["code"] == "billing_key_not_found"
