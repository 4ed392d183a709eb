"""Configuration from the environment, checked before the service starts."""

from __future__ import annotations

import hashlib

import pytest

from billing_service import create_app
from billing_service.config import DEFAULT_API_URL, SCOPES, ConfigError, Settings

from .support import VALID_BODY

REAL = {"IAMPORT_API_KEY": "key", "IAMPORT_API_SECRET": "secret", "BILLING_API_KEYS": "shop:s3cret"}


def test_real_credentials_use_imports_url_and_default_timeouts():
    settings = Settings.from_env(REAL)

    assert settings.sandbox is False
    assert settings.iamport_api_url == DEFAULT_API_URL
    assert (settings.connect_timeout, settings.read_timeout) == (3.0, 30.0)
    assert settings.pending_recheck_seconds == 60.0
    [caller] = settings.callers
    assert caller.name == "shop"
    assert caller.secret_sha256 == hashlib.sha256(b"s3cret").digest()
    assert caller.scopes == SCOPES


def test_no_credentials_is_sandbox_mode():
    settings = Settings.from_env({})

    assert settings.sandbox is True
    assert settings.iamport_api_url is None
    assert settings.callers == ()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"IAMPORT_API_KEY": "key"}, "both"),
        ({"IAMPORT_API_SECRET": "secret"}, "both"),
        (
            {"IAMPORT_API_KEY": "key", "IAMPORT_API_SECRET": "secret"},
            "BILLING_API_KEYS is required",
        ),
        ({**REAL, "BILLING_API_KEYS": "shop"}, "caller:secret"),
        ({**REAL, "BILLING_API_KEYS": "shop:k:issue+refund"}, "unknown scopes"),
        ({**REAL, "BILLING_API_KEYS": "shop:sha256=abc"}, "64 hex digits"),
        ({**REAL, "BILLING_RATELIMIT_STORAGE": "mongodb://x"}, "BILLING_RATELIMIT_STORAGE"),
        ({**REAL, "BILLING_STATE_URL": "mongodb://x"}, "BILLING_STATE_URL"),
        ({**REAL, "BILLING_STATE_URL": "redis://r:6379/0"}, "BILLING_CARD_FINGERPRINT_KEY"),
        ({**REAL, "BILLING_API_KEYS": "shop:k:issue:owner=x"}, "prefix="),
        ({**REAL, "BILLING_LIMIT_ISSUE_PER_CARD": "often"}, "BILLING_LIMIT_ISSUE_PER_CARD"),
        ({**REAL, "BILLING_API_KEYS": "shop:a,shop:b"}, "twice"),
        ({**REAL, "IAMPORT_API_URL": "ftp://x"}, "http"),
        ({**REAL, "IAMPORT_READ_TIMEOUT": "soon"}, "IAMPORT_READ_TIMEOUT"),
        ({**REAL, "IAMPORT_CONNECT_TIMEOUT": "0"}, "IAMPORT_CONNECT_TIMEOUT"),
        ({**REAL, "IAMPORT_CONNECT_TIMEOUT": "nan"}, "IAMPORT_CONNECT_TIMEOUT"),
        ({**REAL, "BILLING_PENDING_RECHECK_SECONDS": "0"}, "BILLING_PENDING_RECHECK_SECONDS"),
        ({**REAL, "BILLING_PENDING_RECHECK_SECONDS": "soon"}, "BILLING_PENDING_RECHECK_SECONDS"),
    ],
)
def test_refuses_to_start(env, message):
    with pytest.raises(ConfigError, match=message):
        create_app(env)


def test_secrets_stay_out_of_the_settings_repr():
    text = repr(Settings.from_env({**REAL, "IAMPORT_API_SECRET": "very-secret-value"}))

    assert "very-secret-value" not in text and "s3cret" not in text


def test_several_callers_and_timeouts_are_read():
    settings = Settings.from_env(
        {
            **REAL,
            "BILLING_API_KEYS": " shop : k1 , ops:k2 ",
            "IAMPORT_CONNECT_TIMEOUT": "1.5",
            "IAMPORT_READ_TIMEOUT": "10",
        }
    )

    assert [(c.name, c.secret_sha256) for c in settings.callers] == [
        ("shop", hashlib.sha256(b"k1").digest()),
        ("ops", hashlib.sha256(b"k2").digest()),
    ]
    assert (settings.connect_timeout, settings.read_timeout) == (1.5, 10.0)


def test_sandbox_mode_starts_the_bundled_sandbox_and_warns(caplog):
    app = create_app({})
    try:
        resp = app.test_client().post("/subscriptions/issue-billing", json=VALID_BODY)

        assert resp.status_code == 200
        assert resp.get_json()["billing_key"]["card_number"] == "424242******4242"
        assert "SANDBOX MODE" in caplog.text
        assert "NOT authenticated" in caplog.text
    finally:
        app.extensions["sandbox"].shutdown()


def test_callers_may_have_scopes_and_hashed_secrets():
    digest = hashlib.sha256(b"ops-secret").hexdigest()
    settings = Settings.from_env(
        {**REAL, "BILLING_API_KEYS": f"shop:k1:issue+read, ops:sha256={digest}:cancel"}
    )

    shop, ops = settings.callers
    assert shop.scopes == {"issue", "read"}
    assert ops.secret_sha256 == bytes.fromhex(digest)
    assert ops.scopes == {"cancel"}


def test_rate_limits_have_defaults_and_can_be_set():
    settings = Settings.from_env({**REAL, "BILLING_LIMIT_ISSUE_PER_CARD": "3/day"})

    assert settings.limits["BILLING_LIMIT_ISSUE_PER_CARD"] == "3/day"
    assert settings.limits["BILLING_LIMIT_ISSUE_PER_CUSTOMER"] == "30/hour"
    # Counted in the instance's embedded store, shared by its workers, by default.
    assert settings.state_url == "sqlite:///var/state.db"
    assert not settings.counters_in_memory


@pytest.mark.parametrize(
    ("env", "proxy"),
    [
        ({}, None),
        ({"HTTPS_PROXY": "http://proxy:3128"}, "http://proxy:3128"),
        (
            {"https_proxy": "http://lower:3128", "HTTPS_PROXY": "http://upper:3128"},
            "http://lower:3128",
        ),
        ({"ALL_PROXY": "http://proxy:3128"}, "http://proxy:3128"),
        ({"HTTP_PROXY": "http://proxy:3128"}, None),  # I'mport's URL is https
        ({"HTTPS_PROXY": "http://proxy:3128", "NO_PROXY": "localhost,.iamport.kr"}, None),
        ({"HTTPS_PROXY": "http://proxy:3128", "no_proxy": "*"}, None),
        (
            {"HTTPS_PROXY": "http://proxy:3128", "NO_PROXY": "iamport.kr.example"},
            "http://proxy:3128",
        ),
    ],
)
def test_imports_proxy_comes_from_the_usual_variables(env, proxy):
    assert Settings.from_env({**REAL, **env}).iamport_proxy_url == proxy


def test_the_bundled_sandbox_is_never_reached_through_a_proxy():
    assert Settings.from_env({"HTTP_PROXY": "http://proxy:3128"}).iamport_proxy_url is None


def test_a_malformed_proxy_refuses_to_start_without_echoing_it():
    with pytest.raises(ConfigError) as refused:
        Settings.from_env({**REAL, "HTTPS_PROXY": "socks5://user:hunter2@proxy:1080"})

    assert "hunter2" not in str(refused.value)


def test_a_ca_bundle_for_imports_certificate_comes_from_requests_variable():
    assert Settings.from_env(REAL).iamport_ca_bundle is None
    env = {**REAL, "REQUESTS_CA_BUNDLE": "/etc/corp-ca.pem", "CURL_CA_BUNDLE": "/other.pem"}
    assert Settings.from_env(env).iamport_ca_bundle == "/etc/corp-ca.pem"


def test_sandbox_mode_uses_the_bundled_sandboxs_default_credentials():
    # config.py cannot import the sandbox (the sandbox is the factory's business alone), so it
    # names the same credentials; compose's sandbox container relies on them agreeing.
    from billing_service.config import SANDBOX_API_KEY, SANDBOX_API_SECRET
    from billing_service.sandbox import DEFAULT_API_KEY, DEFAULT_API_SECRET

    assert (SANDBOX_API_KEY, SANDBOX_API_SECRET) == (DEFAULT_API_KEY, DEFAULT_API_SECRET)


def test_a_caller_may_own_only_the_customers_with_its_prefix():
    settings = Settings.from_env(
        {**REAL, "BILLING_API_KEYS": "checkout:k1:issue+read+charge:prefix=shop_,ops:k2"}
    )

    checkout, ops = settings.callers
    assert checkout.prefix == "shop_" and checkout.scopes == {"issue", "read", "charge"}
    assert checkout.owns("shop_0001") and not checkout.owns("other_0001")
    assert ops.prefix is None and ops.owns("other_0001")


def test_the_deprecated_storage_variable_still_works_and_says_so():
    settings = Settings.from_env(
        {
            **REAL,
            "BILLING_RATELIMIT_STORAGE": "redis://r:6379/1",
            "BILLING_CARD_FINGERPRINT_KEY": "k",
        }
    )

    assert settings.state_url == "redis://r:6379/1"
    assert any("deprecated" in w for w in settings.warnings)


def test_the_pending_recheck_delay_can_be_set():
    settings = Settings.from_env({**REAL, "BILLING_PENDING_RECHECK_SECONDS": "90"})

    assert settings.pending_recheck_seconds == 90.0
