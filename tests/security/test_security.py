"""Scoped callers (OWASP API5) and card-testing limits (OWASP API4/API6)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest
import redis as redis_client

from billing_service import create_app

from ..support import ISSUE_ROUTE, VALID_BODY, free_port, redis_url, service_env

ISSUE = "/subscriptions/issue-billing"
CHARGES = "/subscriptions/payments"
REJECTED_CARD = "4000000000000002"
DECLINED_CARD = "4000000000009995"

READER_DIGEST = hashlib.sha256(b"reader-secret").hexdigest()
SCOPED_KEYS = ",".join(
    [
        "issuer:issuer-secret:issue",
        f"reader:sha256={READER_DIGEST}:read",
        "biller:biller-secret:charge+cancel",
        "admin:admin-secret",
    ]
)


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def scoped(sandbox):
    return create_app(service_env(sandbox.url, BILLING_API_KEYS=SCOPED_KEYS)).test_client()


OPERATIONS = {
    "issue": ("POST", ISSUE, VALID_BODY),
    "read": ("GET", f"/subscriptions/billing-keys/{VALID_BODY['customer_uid']}", None),
    "charge": (
        "POST",
        CHARGES,
        {"customer_uid": "u", "merchant_uid": "m", "amount": 1, "name": "n"},
    ),
    "cancel": ("POST", f"{CHARGES}/imps_1/cancel", {"reason": "r"}),
    "delete": ("DELETE", f"/subscriptions/billing-keys/{VALID_BODY['customer_uid']}", None),
    "events": ("GET", "/events", None),  # operations data: `read` does not give it
}
GRANTS = {
    "issuer-secret": {"issue"},
    "reader-secret": {"read"},
    "biller-secret": {"charge", "cancel"},
    "admin-secret": set(OPERATIONS),
}


@pytest.mark.parametrize("secret", sorted(GRANTS))
@pytest.mark.parametrize("scope", sorted(OPERATIONS))
def test_each_key_may_use_only_its_scopes(scoped, sandbox, secret, scope):
    method, path, body = OPERATIONS[scope]

    resp = scoped.open(path, method=method, json=body, headers=bearer(secret))

    if scope in GRANTS[secret]:
        assert resp.status_code != 403
    else:
        assert resp.status_code == 403
        assert resp.get_json()["code"] == "forbidden"
        assert f"'{scope}'" in resp.get_json()["message"]
        assert sandbox.counts() == {}


def test_a_hashed_secret_authenticates_with_the_plain_secret(scoped):
    _, path, _ = OPERATIONS["read"]

    assert scoped.get(path, headers=bearer("reader-secret")).status_code == 404  # no such key yet
    assert scoped.get(path, headers=bearer(READER_DIGEST)).status_code == 401


def limited_app(sandbox_url: str, **limits: str):
    # Replicas sharing Redis need one card fingerprint key (required with redis://).
    env = service_env(
        sandbox_url, BILLING_CARD_FINGERPRINT_KEY="test-card-fingerprint-key-for-limits", **limits
    )
    client = create_app(env).test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = "Bearer test-caller-key-checkout"
    return client


def issue(client, **fields):
    return client.post(ISSUE, json={**VALID_BODY, **fields})


@pytest.fixture(params=["memory", "redis"])
def storage(request) -> Iterator[str]:
    if request.param == "memory":
        yield "memory://"
    else:
        with redis_url() as url:
            yield url


def test_issuance_is_limited_per_card(sandbox, storage):
    client = limited_app(
        sandbox.url, BILLING_RATELIMIT_STORAGE=storage, BILLING_LIMIT_ISSUE_PER_CARD="2/hour"
    )
    assert issue(client, customer_uid="a").status_code == 200
    assert issue(client, customer_uid="b", card_number="4242 4242 4242 4242").status_code == 200

    resp = issue(client, customer_uid="c", card_number="4242-4242-4242-4242")

    assert resp.status_code == 429
    assert resp.get_json()["code"] == "rate_limited"
    assert int(resp.headers["Retry-After"]) > 0
    assert sandbox.count(ISSUE_ROUTE) == 2
    assert issue(client, customer_uid="d", card_number="5555555555554444").status_code == 200


def test_issuance_is_limited_per_customer_uid(sandbox, storage):
    client = limited_app(
        sandbox.url, BILLING_RATELIMIT_STORAGE=storage, BILLING_LIMIT_ISSUE_PER_CUSTOMER="1/hour"
    )
    assert issue(client).status_code == 200

    assert issue(client, card_number="5555555555554444").status_code == 429
    assert issue(client, customer_uid="someone-else").status_code == 200


def test_issuance_is_limited_per_caller(sandbox, storage):
    client = limited_app(
        sandbox.url, BILLING_RATELIMIT_STORAGE=storage, BILLING_LIMIT_ISSUE_PER_CALLER="2/minute"
    )
    assert issue(client, customer_uid="a").status_code == 200
    assert issue(client, customer_uid="b").status_code == 200

    assert issue(client, customer_uid="c").status_code == 429
    other = client.post(ISSUE, json=VALID_BODY, headers=bearer("test-caller-key-ops"))
    assert other.status_code == 200


def test_refusals_count_extra_and_stop_charges_too(sandbox, storage):
    client = limited_app(
        sandbox.url, BILLING_RATELIMIT_STORAGE=storage, BILLING_LIMIT_REFUSALS_PER_CALLER="2/hour"
    )
    assert issue(client, card_number=REJECTED_CARD).status_code == 402
    assert issue(client, customer_uid="declining", card_number=DECLINED_CARD).status_code == 200
    charge = {"customer_uid": "declining", "merchant_uid": "m-1", "amount": 100, "name": "n"}
    assert client.post(CHARGES, json=charge).status_code == 402

    assert issue(client, customer_uid="next").status_code == 429
    assert client.post(CHARGES, json={**charge, "merchant_uid": "m-2"}).status_code == 429


def test_invalid_requests_do_not_use_up_the_limits(sandbox):
    client = limited_app(sandbox.url, BILLING_LIMIT_ISSUE_PER_CARD="1/hour")
    for _ in range(3):
        assert issue(client, expiry="1999-01").status_code == 422

    assert issue(client).status_code == 200


def test_limits_go_on_in_the_embedded_store_when_redis_is_unreachable(sandbox, caplog):
    client = limited_app(
        sandbox.url,
        BILLING_RATELIMIT_STORAGE=f"redis://127.0.0.1:{free_port()}/0",
        BILLING_LIMIT_ISSUE_PER_CARD="1/hour",
    )
    assert issue(client).status_code == 200

    assert issue(client, customer_uid="other").status_code == 429
    assert "The shared state store is down" in caplog.text


def test_rate_limit_keys_hold_no_card_number(sandbox):
    with redis_url() as url:
        client = limited_app(sandbox.url, BILLING_RATELIMIT_STORAGE=url)
        assert issue(client).status_code == 200
        keys = [k.decode() for k in redis_client.Redis.from_url(url).keys("*")]

    assert any("issue-card" in k for k in keys)
    assert not any("4242" in k for k in keys)


def audit_entries(caplog) -> list[dict]:
    """The audit entries: each record's fields, which the JSON log lines carry as they are."""
    return [r.fields for r in caplog.records if r.name == "billing_service.audit"]


def test_every_operation_and_refusal_leaves_one_audit_line(scoped, sandbox, caplog):
    caplog.set_level("INFO", logger="billing_service.audit")
    admin = bearer("admin-secret")
    assert scoped.post(ISSUE, json=VALID_BODY, headers=admin).status_code == 200
    uid = VALID_BODY["customer_uid"]
    charge = {"customer_uid": uid, "merchant_uid": "order-9", "amount": 900, "name": "n"}
    imp_uid = scoped.post(CHARGES, json=charge, headers=admin).get_json()["payment"]["imp_uid"]
    scoped.get(f"{CHARGES}/{imp_uid}", headers=admin)
    scoped.post(f"{CHARGES}/{imp_uid}/cancel", json={"reason": "r"}, headers=admin)
    scoped.delete(f"/subscriptions/billing-keys/{uid}", headers=admin)
    scoped.post(ISSUE, json=VALID_BODY, headers=bearer("wrong"))  # 401
    scoped.post(CHARGES, json=charge, headers=bearer("issuer-secret"))  # 403
    scoped.get("/healthz")  # not an operation: no line

    entries = audit_entries(caplog)

    summary = [(e["action"], e["caller"], e["outcome"], e["status"]) for e in entries]
    assert summary == [
        ("issue", "admin", "ok", 200),
        ("charge", "admin", "ok", 200),
        ("lookup", "admin", "ok", 200),
        ("cancel", "admin", "ok", 200),
        ("delete", "admin", "ok", 200),
        ("issue", "unknown", "unauthorized", 401),
        ("charge", "issuer", "forbidden", 403),
    ]
    assert entries[0]["customer_uid"] == uid
    assert (entries[1]["merchant_uid"], entries[1]["imp_uid"]) == ("order-9", imp_uid)
    assert entries[3]["imp_uid"] == imp_uid
    for entry in entries:
        assert entry["request_id"] and entry["time"].endswith("+00:00")
        assert set(entry) <= {
            "time",
            "caller",
            "action",
            "source",
            "customer_uid",
            "merchant_uid",
            "imp_uid",
            "outcome",
            "status",
            "request_id",
        }
    assert "4242" not in caplog.text and "880101" not in caplog.text


@pytest.mark.parametrize("uid", ["4242 4242 4242 4242", "x\u0085y", "x" * 81, ".."])
def test_the_audit_trail_writes_only_well_formed_ids(client, caplog, uid):
    # A refused request's ids are whatever the caller sent: a card number, control characters.
    caplog.set_level("INFO", logger="billing_service.audit")
    charge = {"customer_uid": uid, "merchant_uid": uid, "amount": 900, "name": "n"}

    assert client.post(CHARGES, json=charge).status_code == 422

    [entry] = audit_entries(caplog)
    assert (entry["outcome"], entry["status"]) == ("invalid_request", 422)
    assert "customer_uid" not in entry and "merchant_uid" not in entry


def test_rate_limited_attempts_are_audited(sandbox, caplog):
    caplog.set_level("INFO", logger="billing_service.audit")
    client = limited_app(sandbox.url, BILLING_LIMIT_ISSUE_PER_CARD="1/hour")
    issue(client)
    issue(client, customer_uid="again")

    [_, limited] = audit_entries(caplog)
    assert (limited["outcome"], limited["status"], limited["customer_uid"]) == (
        "rate_limited",
        429,
        "again",
    )


def test_retry_after_comes_only_with_a_429(sandbox):
    client = limited_app(sandbox.url, BILLING_LIMIT_ISSUE_PER_CARD="1/hour")

    ok = issue(client)
    limited = issue(client, customer_uid="again")

    assert "Retry-After" not in ok.headers
    assert limited.status_code == 429 and "Retry-After" in limited.headers
