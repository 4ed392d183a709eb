"""/readyz: answered at once from background checks, 503 only for this instance's own faults.

I'mport is the sandbox over loopback, made slow, failing or refusing by its queued faults; the
shared store is a real redis-server, stopped or reconfigured mid-test; the embedded store a
real SQLite file, overwritten mid-test.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator

import pytest
import redis as redis_client
from prometheus_client.parser import text_string_to_metric_families

from billing_service import create_app
from billing_service.extensions import shared
from billing_service.sandbox import start_sandbox

from ..support import (
    CALLER_KEY,
    TOKEN_ROUTE,
    RedisServer,
    free_port,
    poll,
    service_env,
)

AUTH = {"Authorization": f"Bearer {CALLER_KEY}"}
FINGERPRINT = {"BILLING_CARD_FINGERPRINT_KEY": "readiness-tests-fingerprint-key-32-chars"}
GET_TOKEN = "POST /users/getToken"
OK = {"status": "ok", "message": None}


def checks(client) -> dict:
    checks: dict = client.get("/readyz").get_json()["checks"]
    return checks


def check_metric(client, check: str) -> float | None:
    text = client.get("/metrics").get_data(as_text=True)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "billing_readiness_check_ok" and sample.labels["check"] == check:
                return sample.value
    return None


@pytest.fixture
def apps() -> Iterator[list]:
    """Apps made by a test: their checks' threads are stopped after it."""
    made: list = []
    yield made
    for app in made:
        shared(app).readiness.stop()


def make(apps: list, url: str, **env: str):
    apps.append(create_app(service_env(url, **env)))
    return apps[-1]


# --- I'mport ----------------------------------------------------------------------------------


def test_readyz_is_ready_when_a_token_can_be_had(apps, sandbox):
    client = make(apps, sandbox.url).test_client()  # no caller key: like /healthz, it needs none

    first = client.get("/readyz")
    second = client.get("/readyz")

    assert first.status_code == second.status_code == 200
    assert first.get_json()["status"] == "ready"
    assert first.get_json()["checks"]["iamport"] == OK
    assert first.get_json()["checks"]["state_store"] == OK
    # One token fetch, then the cached token answers; no business call is ever made.
    assert sandbox.counts() == {TOKEN_ROUTE: 1}
    assert check_metric(client, "iamport") == 1


def test_credentials_refused_before_any_token_are_not_ready(apps, sandbox):
    app = make(apps, sandbox.url, IAMPORT_API_SECRET="not-the-secret-xyz")

    resp = app.test_client().get("/readyz", headers={"X-Request-ID": "probe-1"})

    assert resp.status_code == 503
    body = resp.get_json()
    assert {k: body[k] for k in ("status", "code", "message", "request_id")} == {
        "status": "failed",
        "code": "not_ready",
        "message": "No I'mport access token: I'mport refused the service's API credentials.",
        "request_id": "probe-1",
    }
    assert body["checks"]["iamport"]["status"] == "failing"
    assert "not-the-secret-xyz" not in resp.get_data(as_text=True)
    assert sandbox.counts() == {TOKEN_ROUTE: 1}


def test_imports_unreachable_is_reported_and_stays_ready(apps):
    unreachable = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    client = make(apps, unreachable).test_client()

    resp = client.get("/readyz")

    assert resp.status_code == 200
    assert resp.get_json()["checks"]["iamport"] == {
        "status": "degraded",
        "message": "No I'mport access token: I'mport could not be reached.",
    }
    assert check_metric(client, "iamport") == 0
    assert client.get("/healthz").status_code == 200


def test_imports_answering_5xx_is_reported_and_stays_ready(apps, sandbox):
    sandbox.admin("POST", "faults", route=GET_TOKEN, fault="http_500", times=100)
    client = make(apps, sandbox.url).test_client()

    resp = client.get("/readyz")

    assert resp.status_code == 200
    assert resp.get_json()["checks"]["iamport"]["status"] == "degraded"
    assert "I'mport" in resp.get_json()["checks"]["iamport"]["message"]


def test_a_slow_imports_never_slows_the_probe(apps, sandbox):
    # getToken answers after 5 s (the sandbox's hang); the service's read timeout is 2 s.
    sandbox.admin("POST", "faults", route=GET_TOKEN, fault="hang", times=100)
    client = make(apps, sandbox.url).test_client()

    started = time.monotonic()
    resp = client.get("/readyz")
    took = time.monotonic() - started

    assert took < 1.0
    assert resp.status_code == 200
    assert resp.get_json()["checks"]["iamport"]["status"] == "unknown"  # still asking
    assert resp.get_json()["checks"]["state_store"] == OK
    assert poll(lambda: checks(client)["iamport"]["status"] == "degraded")
    assert checks(client)["iamport"]["message"].endswith("I'mport did not answer in time.")
    assert client.get("/readyz").status_code == 200


def test_credentials_refused_after_a_first_token_stay_ready(apps, sandbox):
    app = make(apps, sandbox.url)
    client = app.test_client()
    assert checks(client)["iamport"] == OK
    # The key is rotated: the token expires and every new one is refused.
    sandbox.admin("POST", "tokens/expire")
    sandbox.admin("POST", "faults", route=GET_TOKEN, fault="http_401", times=100)
    lookup = client.get("/subscriptions/billing-keys/anyone_0001", headers=AUTH)
    assert lookup.get_json()["code"] == "gateway_auth_failed"  # the cached token is dropped

    shared(app).readiness.run("iamport")  # what its thread does every 5 s
    resp = client.get("/readyz")

    assert resp.status_code == 200
    assert resp.get_json()["checks"]["iamport"]["status"] == "degraded"
    assert "rotated" in resp.get_json()["checks"]["iamport"]["message"]


def test_a_cached_token_counts_while_imports_is_away(apps):
    server = start_sandbox()
    client = make(apps, server.url).test_client()
    assert checks(client)["iamport"] == OK

    server.shutdown()  # I'mport goes away, but the token this process holds is still valid

    assert checks(client)["iamport"] == OK
    fresh = make(apps, server.url).test_client()  # no token yet: reported, still ready
    assert fresh.get("/readyz").status_code == 200
    assert checks(fresh)["iamport"]["status"] == "degraded"


# --- the state store ----------------------------------------------------------------------------


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    yield server
    server.stop()


def test_the_shared_redis_down_is_reported_and_stays_ready(apps, sandbox, redis_server):
    app = make(apps, sandbox.url, BILLING_STATE_URL=redis_server.url, **FINGERPRINT)
    client = app.test_client()
    assert checks(client)["state_store"] == OK

    redis_server.stop()

    assert poll(lambda: checks(client)["state_store"]["status"] == "degraded")
    resp = client.get("/readyz")
    assert resp.status_code == 200
    assert "cannot be reached" in resp.get_json()["checks"]["state_store"]["message"]
    assert check_metric(client, "state_store") == 0


def test_a_redis_that_becomes_able_to_evict_is_not_ready_within_5_s(apps, sandbox, redis_server):
    app = make(apps, sandbox.url, BILLING_STATE_URL=redis_server.url, **FINGERPRINT)
    client = app.test_client()
    assert client.get("/readyz").status_code == 200
    admin = redis_client.Redis.from_url(redis_server.url)

    admin.config_set("maxmemory-policy", "allkeys-lru")

    assert poll(lambda: client.get("/readyz").status_code == 503, timeout=5.0)
    body = client.get("/readyz").get_json()
    assert body["code"] == "not_ready"
    assert "maxmemory-policy allkeys-lru" in body["message"]
    assert body["checks"]["state_store"]["status"] == "failing"
    admin.config_set("maxmemory-policy", "noeviction")
    assert poll(lambda: client.get("/readyz").status_code == 200, timeout=5.0)


def test_an_embedded_store_locked_past_its_timeout_is_not_ready(apps, sandbox):
    app = make(apps, sandbox.url)
    client = app.test_client()
    assert client.get("/readyz").status_code == 200
    path = app.config["BILLING_SETTINGS"].state_url.removeprefix("sqlite:///")
    stuck = sqlite3.connect(path, isolation_level=None)  # a process that holds the write lock

    stuck.execute("BEGIN IMMEDIATE")
    try:
        # A check waits for the lock as long as a charge would (5 s), then gives up.
        assert poll(lambda: client.get("/readyz").status_code == 503, timeout=10.0)
        found = checks(client)["state_store"]
    finally:
        stuck.execute("ROLLBACK")
        stuck.close()

    assert found == {
        "status": "failing",
        "message": "The embedded state store cannot be used: The state database cannot be written.",
    }
    assert poll(lambda: client.get("/readyz").status_code == 200)


# --- the contract ---------------------------------------------------------------------------


def test_readyz_is_documented_with_both_answers(app):
    client = app.test_client()
    operation = client.get("/openapi.json").get_json()["paths"]["/readyz"]["get"]

    assert operation["security"] == []
    example = operation["responses"]["200"]["content"]["application/json"]["example"]
    assert example["status"] == "ready" and set(example["checks"]) == {
        "iamport",
        "state_store",
        "event_consumer",
    }
    examples = operation["responses"]["503"]["content"]["application/json"]["examples"]
    assert examples["not_ready"]["value"]["code"] == "not_ready"
    assert "/metrics" not in client.get("/openapi.json").get_json()["paths"]
