"""The OpenAPI document and the offline Swagger UI."""

from __future__ import annotations

import pytest

from billing_service.api.error_kinds import ERRORS

ISSUE = "/subscriptions/issue-billing"


@pytest.fixture
def spec(client) -> dict:
    resp = client.get("/openapi.json")
    assert resp.status_code == 200
    return resp.get_json()


def test_issue_billing_documents_json_and_form_bodies(spec):
    operation = spec["paths"][ISSUE]["post"]

    content = operation["requestBody"]["content"]
    assert set(content) == {"application/json", "application/x-www-form-urlencoded"}
    ref = "#/components/schemas/IssueBillingKey"
    assert content["application/json"]["schema"]["$ref"] == ref
    assert content["application/x-www-form-urlencoded"]["schema"]["$ref"] == f"{ref}Form"
    assert content["application/json"]["example"]["customer_uid"]
    # No invalid `in: json_or_form` parameters: only the two documented headers.
    assert {(p["in"], p["name"]) for p in operation["parameters"]} == {
        ("header", "Idempotency-Key"),
        ("header", "If-None-Match"),
    }
    schema = spec["components"]["schemas"]["IssueBillingKey"]
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) == {"card_number", "expiry", "birth", "customer_uid"}
    assert all(schema["properties"][f]["writeOnly"] for f in ("card_number", "expiry", "birth"))
    # The form variant: the same fields, but an empty optional field counts as absent.
    form = spec["components"]["schemas"]["IssueBillingKeyForm"]
    assert (form["required"], set(form["properties"])) == (
        schema["required"],
        set(schema["properties"]),
    )
    assert form["properties"]["card_number"] == schema["properties"]["card_number"]
    email = form["properties"]["customer_email"]
    assert email["description"] == schema["properties"]["customer_email"]["description"]
    assert email["anyOf"][0]["pattern"] == schema["properties"]["customer_email"]["pattern"]
    assert email["anyOf"][1] == {"type": "string", "enum": [""], "description": "Absent."}


def test_charge_form_leaves_out_custom_data(spec):
    # A form cannot carry a JSON object.
    assert "custom_data" in spec["components"]["schemas"]["Charge"]["properties"]
    assert "custom_data" not in spec["components"]["schemas"]["ChargeForm"]["properties"]


def test_issue_billing_documents_every_error_it_can_answer(spec):
    responses = spec["paths"][ISSUE]["post"]["responses"]

    assert "default" not in responses
    documented = {
        code
        for status, response in responses.items()
        if status != "200"
        for code in response["content"]["application/json"]["examples"]
    }
    assert documented == {
        "invalid_json",
        "card_data_in_url",
        "unauthorized",
        "forbidden",
        "rate_limited",
        "card_rejected",
        "billing_key_exists",
        "bad_request",
        "invalid_idempotency_key",
        "idempotency_key_reused",
        "request_in_progress",
        "state_unavailable",
        "payload_too_large",
        "unsupported_media_type",
        "invalid_request",
        "internal_error",
        "gateway_error",
        "gateway_auth_failed",
        "gateway_unavailable",
        "gateway_timeout",
    }
    for status, response in responses.items():
        if status == "200":
            continue
        assert (
            response["content"]["application/json"]["schema"]["$ref"]
            == "#/components/schemas/Error"
        )
        for example in response["content"]["application/json"]["examples"].values():
            assert str(ERRORS[example["value"]["code"]].status) == status


def test_success_response_is_described_with_an_example(spec):
    ok = spec["paths"][ISSUE]["post"]["responses"]["200"]["content"]["application/json"]
    assert ok["schema"]["$ref"] == "#/components/schemas/IssueBillingKeyResponse"
    assert ok["example"]["billing_key"]["card_number"] == "424242******4242"
    fields = spec["components"]["schemas"]["BillingKey"]["properties"]
    assert {"issued_at", "updated_at", "replaced", "card_type"} <= set(fields)


def test_bearer_security_scheme_applies_except_to_health(spec):
    scheme = spec["components"]["securitySchemes"]["callerKey"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    for word in ("BILLING_API_KEYS", "sha256=", "issue", "read", "charge", "cancel", "delete"):
        assert word in scheme["description"]
    assert spec["security"] == [{"callerKey": []}]
    assert spec["paths"]["/healthz"]["get"]["security"] == []
    assert spec["paths"]["/readyz"]["get"]["security"] == []


def test_error_schema_lists_every_code(spec):
    error = spec["components"]["schemas"]["Error"]
    assert error["properties"]["code"]["enum"] == sorted(ERRORS)
    assert set(error["required"]) == {"status", "code", "message", "request_id"}


def test_swagger_ui_is_served_without_internet(client):
    page = client.get("/docs")

    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "https://" not in html and "http://" not in html  # nothing from a CDN
    for asset in ("swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js"):
        assert f'"/docs/static/{asset}"' in html
        with client.get(f"/docs/static/{asset}") as resp:
            assert resp.status_code == 200 and len(resp.data) > 1000
    assert '"validatorUrl": null' in html


def test_health_needs_no_auth(app):
    resp = app.test_client().get("/healthz")

    assert resp.status_code == 200
    assert resp.get_json() == {"status": "ok"}


CANCEL_PATH = "/subscriptions/payments/{imp_uid}/cancel"
OPERATIONS = {
    ("/subscriptions/issue-billing", "post"): {"card_rejected", "rate_limited"},
    ("/subscriptions/billing-keys/{customer_uid}", "get"): {"billing_key_not_found"},
    ("/subscriptions/billing-keys/{customer_uid}", "delete"): {
        "billing_key_not_found",
        "schedules_pending",
    },
    ("/subscriptions/payments", "post"): {
        "rate_limited",
        "card_declined",
        "billing_key_not_found",
        "duplicate_merchant_uid",
    },
    ("/subscriptions/payments/{imp_uid}", "get"): {"payment_not_found"},
    ("/subscriptions/payments/by-merchant-uid/{merchant_uid}", "get"): {"payment_not_found"},
    ("/subscriptions/schedules", "post"): {
        "billing_key_not_found",
        "duplicate_merchant_uid",
        "schedule_refused",
    },
    ("/subscriptions/schedules/{merchant_uid}", "get"): {"schedule_not_found"},
    ("/subscriptions/schedules/{merchant_uid}", "delete"): {
        "schedule_not_found",
        "schedule_not_revocable",
    },
    ("/subscriptions/billing-keys/{customer_uid}/schedules", "get"): {"billing_key_not_found"},
    ("/subscriptions/billing-keys/{customer_uid}/schedules", "delete"): {"billing_key_not_found"},
    ("/subscriptions/payments/{imp_uid}/cancel", "post"): {
        "payment_not_found",
        "nothing_to_cancel",
    },
}
GATEWAY_CODES = {"unauthorized", "forbidden", "internal_error", "gateway_error"}
GATEWAY_CODES |= {"gateway_auth_failed"}
GATEWAY_CODES |= {"gateway_unavailable", "gateway_timeout"}


def test_every_operation_is_documented(spec):
    documented = {
        (path, method)
        for path, item in spec["paths"].items()
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    }
    assert documented == set(OPERATIONS) | {
        ("/healthz", "get"),
        ("/readyz", "get"),
        ("/webhooks/iamport", "post"),
        ("/webhooks/iamport/{token}", "post"),
        ("/webhooks/portone", "post"),
        ("/webhooks/portone/{token}", "post"),
        ("/events", "get"),
        ("/events/{event_id}/redeliver", "post"),
    }


@pytest.mark.parametrize(("path", "method"), sorted(OPERATIONS))
def test_each_operation_documents_its_errors_and_examples(spec, path, method):
    operation = spec["paths"][path][method]
    codes = {
        code: status
        for status, response in operation["responses"].items()
        if status not in ("200", "202", "414")
        for code in response["content"]["application/json"]["examples"]
    }
    # gunicorn's own refusal of an overlong request line, where the caller fills the path in.
    if "{" in path:
        assert set(operation["responses"]["414"]["content"]) == {"text/html"}
    else:
        assert "414" not in operation["responses"]

    assert OPERATIONS[path, method] | GATEWAY_CODES <= set(codes)
    for code, status in codes.items():
        assert str(ERRORS[code].status) == status
    ok = operation["responses"]["200"]["content"]["application/json"]
    assert "example" in ok or "examples" in ok
    assert operation["summary"] and operation["description"]
    if "requestBody" in operation:
        assert "example" in operation["requestBody"]["content"]["application/json"]


def test_ids_in_paths_are_documented_with_their_pattern(spec):
    for path in ("/subscriptions/billing-keys/{customer_uid}", "/subscriptions/payments/{imp_uid}"):
        [parameter] = spec["paths"][path]["parameters"]
        assert parameter["in"] == "path"
        assert parameter["schema"]["pattern"] == "^(?!\\.+$)[A-Za-z0-9._-]+$"
        assert parameter["schema"]["maxLength"] == 80


def test_charge_documents_replays_reconciliations_and_retryable_timeouts(spec):
    operation = spec["paths"]["/subscriptions/payments"]["post"]
    ok = operation["responses"]["200"]["content"]["application/json"]["examples"]
    assert ok["replayed"]["value"]["replayed"] is True
    assert ok["reconciled"]["value"]["reconciled"] is True
    errors = {
        s: r["content"]["application/json"]["examples"]
        for s, r in operation["responses"].items()
        if s not in ("200", "202")
    }
    assert errors["504"]["gateway_timeout"]["value"]["retryable"] is True
    pending = operation["responses"]["202"]["content"]["application/json"]["example"]
    assert (pending["status"], pending["payment"]["status"]) == ("pending", "ready")
    assert errors["402"]["card_declined"]["value"]["payment"]["status"] == "failed"


def test_429_documents_retry_after(spec):
    limited = spec["paths"]["/subscriptions/issue-billing"]["post"]["responses"]["429"]
    assert limited["headers"]["Retry-After"]["schema"]["type"] == "integer"


@pytest.mark.parametrize(
    "path",
    [
        "/subscriptions/issue-billing",
        "/subscriptions/payments",
        CANCEL_PATH,
        "/subscriptions/schedules",
    ],
)
def test_money_moving_posts_document_idempotency(spec, path):
    operation = spec["paths"][path]["post"]
    [key] = [p for p in operation["parameters"] if p["name"] == "Idempotency-Key"]
    assert key["in"] == "header" and key["required"] is False
    assert "Idempotent-Replayed" in operation["responses"]["200"]["headers"]
    conflict = operation["responses"]["409"]
    assert "request_in_progress" in conflict["content"]["application/json"]["examples"]
    assert "Retry-After" in conflict["headers"]
    assert (
        "idempotency_key_reused"
        in operation["responses"]["422"]["content"]["application/json"]["examples"]
    )


def test_the_webhook_needs_no_caller_key_and_is_documented(spec):
    for path in ("/webhooks/iamport", "/webhooks/iamport/{token}"):
        operation = spec["paths"][path]["post"]
        assert operation["security"] == []
        assert set(operation["requestBody"]["content"]) == {
            "application/json",
            "application/x-www-form-urlencoded",
        }
        assert "403" in operation["responses"]
