"""The shared store (Redis) is used only when it cannot evict the service's keys: refused at
start, refused on first contact when it was away at start, and refused again when its policy
changes mid-run. Real redis-server processes, started here with the settings under test."""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Iterator

import pytest
import redis as redis_client

from billing_service import create_app
from billing_service.config import ConfigError
from billing_service.extensions import shared
from billing_service.state import UnsafeRedis

from ..support import CALLER_KEY, NO_LIMITS, VALID_BODY, RedisServer, free_port, service_env

AUTH = {"Authorization": f"Bearer {CALLER_KEY}"}
FINGERPRINT = {"BILLING_CARD_FINGERPRINT_KEY": "state-tests-fingerprint-key-of-32-chars"}
AGAIN = "POST /subscribe/payments/again"

pytestmark = pytest.mark.skipif(
    shutil.which("redis-server") is None, reason="redis-server is not installed"
)


@pytest.fixture
def servers() -> Iterator[list[RedisServer]]:
    started: list[RedisServer] = []
    yield started
    for server in started:
        server.stop()


def start(servers: list[RedisServer], *args: str, port: int | None = None) -> RedisServer:
    servers.append(RedisServer(port, args))
    return servers[-1]


def app_on(sandbox, url: str):
    return create_app(service_env(sandbox.url, BILLING_STATE_URL=url, **FINGERPRINT, **NO_LIMITS))


def test_a_redis_that_may_evict_keys_stops_the_start(sandbox, servers):
    server = start(servers, "--maxmemory-policy", "allkeys-lru")

    with pytest.raises(ConfigError, match="maxmemory-policy allkeys-lru.*maxmemory-policy noev"):
        app_on(sandbox, server.url)
    # volatile-*, the managed offerings' default, picks exactly the keys with a TTL: ours.
    for policy in ("volatile-lru", "volatile-ttl", "allkeys-random"):
        redis_client.Redis.from_url(server.url).config_set("maxmemory-policy", policy)
        with pytest.raises(ConfigError, match=f"maxmemory-policy {policy}"):
            app_on(sandbox, server.url)

    redis_client.Redis.from_url(server.url).config_set("maxmemory-policy", "noeviction")
    assert app_on(sandbox, server.url).test_client().get("/healthz").status_code == 200


def test_a_user_denied_info_stops_the_start_with_the_fix(sandbox, servers):
    server = start(servers)
    admin = redis_client.Redis.from_url(server.url)
    admin.acl_setuser(
        "billing", enabled=True, passwords=["+s3cret"], keys=["*"], commands=["+@all", "-info"]
    )
    url = f"redis://billing:s3cret@127.0.0.1:{server.port}/0"

    with pytest.raises(ConfigError, match=r"refuses INFO.*allow the INFO command \(ACL: \+info\)"):
        app_on(sandbox, url)


def test_a_redis_away_at_start_is_checked_on_first_contact(sandbox, servers, caplog):
    port = free_port()  # nothing listens there yet
    app = app_on(sandbox, f"redis://127.0.0.1:{port}/0")  # starts all the same
    client = app.test_client()
    assert "checked on first contact" in caplog.text
    assert client.post("/subscriptions/issue-billing", json=VALID_BODY, headers=AUTH).status_code
    charge = {"customer_uid": VALID_BODY["customer_uid"], "amount": 1000, "name": "x"}

    def charged(n: int):
        headers = {**AUTH, "Idempotency-Key": f"first-contact-{n}"}
        order = {**charge, "merchant_uid": f"fc-{n}"}
        return client.post("/subscriptions/payments", json=order, headers=headers)

    server = start(servers, "--maxmemory-policy", "allkeys-lru", port=port)  # up, but unsafe
    refused = charged(1)
    assert (refused.status_code, refused.get_json()["code"]) == (503, "state_unavailable")
    assert sandbox.count(AGAIN) == 0

    redis_client.Redis.from_url(server.url).config_set("maxmemory-policy", "noeviction")
    assert charged(2).status_code == 200
    assert sandbox.count(AGAIN) == 1

    # Checked again whenever the store is checked (readiness does, every second).
    redis_client.Redis.from_url(server.url).config_set("maxmemory-policy", "volatile-lru")
    with pytest.raises(UnsafeRedis, match="volatile-lru"):
        shared(app).state.check()
    refused_again = charged(3)
    assert (refused_again.status_code, refused_again.get_json()["code"]) == (
        503,
        "state_unavailable",
    )
    assert sandbox.count(AGAIN) == 1


def test_a_redis_without_persistence_is_a_warning_not_a_refusal(sandbox, servers, caplog):
    caplog.set_level(logging.WARNING)
    bare = start(servers)  # --save '' --appendonly no
    app_on(sandbox, bare.url)
    assert "runs without AOF (appendonly no): a restart of it keeps nothing" in caplog.text

    caplog.clear()
    durable = start(servers, "--appendonly", "yes", "--dir", tempfile.mkdtemp())
    app_on(sandbox, durable.url)
    assert "without AOF" not in caplog.text
