"""The OpenAPI document and the offline Swagger UI."""

from __future__ import annotations

import pytest

from billing_service.errors import ERRORS

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
    assert content["application/x-www-form-urlencoded"]["schema"]["$ref"] == ref
    assert content["application/json"]["example"]["customer_uid"]
    assert "parameters" not in operation  # no invalid `in: json_or_form` parameters
    schema = spec["components"]["schemas"]["IssueBillingKey"]
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) == {"card_number", "expiry", "birth", "customer_uid"}
    assert all(schema["properties"][f]["writeOnly"] for f in ("card_number", "expiry", "birth"))


def test_issue_billing_documents_every_error_it_can_answer(spec):
    responses = spec["paths"][ISSUE]["post"]["responses"]

    assert "default" not in responses
    documented = {
        code
        for status, response in responses.items()
        if status != "200"
        for code in response["content"]["application/json"]["examples"]
    }
    assert documented == set(ERRORS) - {"not_found", "method_not_allowed", "bad_request"}
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
    assert spec["components"]["securitySchemes"]["callerKey"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "A caller secret from BILLING_API_KEYS.",
    }
    assert spec["security"] == [{"callerKey": []}]
    assert spec["paths"]["/healthz"]["get"]["security"] == []


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
