"""GET and DELETE /subscriptions/billing-keys/{customer_uid}, against the sandbox."""

from __future__ import annotations

import pytest

from ..support import V1, VALID_BODY

pytestmark = pytest.mark.both_providers

UID = VALID_BODY["customer_uid"]
URL = f"/subscriptions/billing-keys/{UID}"


def answer_unknown_keys(sandbox, as_404: bool) -> None:
    """I'mport answers an unknown key in two ways (the sandbox's switch); PortOne V2 in one."""
    if sandbox.provider == V1:
        sandbox.admin("POST", "config", not_found_as_404=as_404)
    elif as_404:
        pytest.skip("V1 only: I'mport's two answers to an unknown key")


@pytest.fixture
def issued(client) -> dict:
    resp = client.post(
        "/subscriptions/issue-billing", json={**VALID_BODY, "customer_name": "홍길동"}
    )
    assert resp.status_code == 200
    return resp.get_json()["billing_key"]


def test_looks_up_an_issued_key(client, issued):
    resp = client.get(URL)

    assert resp.status_code == 200
    assert resp.get_json() == {"status": "success", "billing_key": issued}
    assert resp.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("as_404", [False, True], ids=["observed-200-code-1", "spec-404"])
def test_unknown_key_is_404_however_imports_says_it(client, sandbox, as_404):
    answer_unknown_keys(sandbox, as_404)

    resp = client.get("/subscriptions/billing-keys/nobody")

    assert resp.status_code == 404
    assert resp.get_json()["code"] == "billing_key_not_found"


def test_deletes_a_key_and_answers_with_it(client, sandbox, issued):
    resp = client.delete(URL, query_string={"reason": "회원 탈퇴"})

    assert resp.status_code == 200
    assert resp.get_json() == {"status": "success", "billing_key": issued}
    [call] = sandbox.calls(sandbox.route("delete"))
    if sandbox.provider == V1:
        assert call["path"] == f"/subscribe/customers/{UID}"
    else:  # the billingKey PortOne generated
        assert call["path"].startswith("/billing-keys/billing-key-")
    assert client.get(URL).status_code == 404


@pytest.mark.parametrize("as_404", [False, True], ids=["observed-200-code-1", "spec-404"])
def test_deleting_an_unknown_key_is_404(client, sandbox, as_404):
    answer_unknown_keys(sandbox, as_404)

    resp = client.delete("/subscriptions/billing-keys/nobody")

    assert resp.status_code == 404
    assert resp.get_json()["code"] == "billing_key_not_found"


@pytest.mark.provider_neutral
def test_delete_reason_is_validated(client, issued):
    resp = client.delete(URL, query_string={"reason": "x" * 201})

    assert resp.status_code == 422
    assert list(resp.get_json()["errors"]) == ["reason"]


def test_an_empty_delete_reason_counts_as_absent(client, issued):
    resp = client.delete(URL, query_string={"reason": ""})

    assert resp.status_code == 200


@pytest.mark.parametrize("uid", ["has%20space", "x" * 81, "slash%2Fuid", "%2E%2E"])
@pytest.mark.provider_neutral
def test_ids_that_cannot_exist_are_not_routed(client, sandbox, uid):
    resp = client.get(f"/subscriptions/billing-keys/{uid}")

    assert resp.status_code == 404
    assert resp.get_json()["code"] == "not_found"
    assert sandbox.counts() == {}


@pytest.mark.parametrize("method", ["get", "delete"])
@pytest.mark.provider_neutral
def test_needs_a_caller_key(app, sandbox, method):
    resp = getattr(app.test_client(), method)(URL)

    assert resp.status_code == 401
    assert sandbox.counts() == {}
