"""Configuration from the environment, checked before the service starts."""

from __future__ import annotations

import hashlib
import ipaddress

import pytest

from billing_service import create_app
from billing_service.config import DEFAULT_API_URL, SCOPES, ConfigError, Settings
from billing_service.extensions import shared

from .support import CALLER_KEY, FINGERPRINT_KEY, SANDBOX_MODE, VALID_BODY, service_env

REAL = {
    "IAMPORT_API_KEY": "key",
    "IAMPORT_API_SECRET": "secret",
    "BILLING_API_KEYS": "shop:s3cret",
    "BILLING_CARD_FINGERPRINT_KEY": FINGERPRINT_KEY,
}


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
    settings = Settings.from_env(SANDBOX_MODE)

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
        (
            {**SANDBOX_MODE, "BILLING_STATE_URL": "redis://r:6379/0"},
            "BILLING_CARD_FINGERPRINT_KEY is required with a redis://",
        ),
        ({**REAL, "BILLING_API_KEYS": "shop:k:issue:owner=x"}, "prefix="),
        ({**REAL, "BILLING_LIMIT_ISSUE_PER_CARD": "often"}, "BILLING_LIMIT_ISSUE_PER_CARD"),
        ({**REAL, "BILLING_API_KEYS": "shop:a,shop:b"}, "twice"),
        ({**REAL, "IAMPORT_API_URL": "ftp://x"}, "http"),
        ({**REAL, "IAMPORT_READ_TIMEOUT": "soon"}, "IAMPORT_READ_TIMEOUT"),
        ({**REAL, "IAMPORT_CONNECT_TIMEOUT": "0"}, "IAMPORT_CONNECT_TIMEOUT"),
        ({**REAL, "IAMPORT_CONNECT_TIMEOUT": "nan"}, "IAMPORT_CONNECT_TIMEOUT"),
        ({**REAL, "BILLING_PENDING_RECHECK_SECONDS": "0"}, "BILLING_PENDING_RECHECK_SECONDS"),
        ({**REAL, "BILLING_PENDING_RECHECK_SECONDS": "soon"}, "BILLING_PENDING_RECHECK_SECONDS"),
        # A Secret's blank key is not "unset": each replica would keep its own store.
        ({**REAL, "BILLING_STATE_URL": ""}, "BILLING_STATE_URL is set but empty"),
        ({**REAL, "BILLING_STATE_URL": "  "}, "BILLING_STATE_URL is set but empty"),
        ({**REAL, "BILLING_REQUIRE_SHARED_STATE": "yes"}, "BILLING_REQUIRE_SHARED_STATE must be"),
        ({**REAL, "BILLING_REQUIRE_SHARED_STATE": "true"}, "BILLING_REQUIRE_SHARED_STATE=true"),
        (
            {**REAL, "BILLING_REQUIRE_SHARED_STATE": "1", "BILLING_STATE_URL": "sqlite:///x.db"},
            "BILLING_REQUIRE_SHARED_STATE=true",
        ),
        (
            {
                **REAL,
                "BILLING_REQUIRE_SHARED_STATE": "true",
                "BILLING_RATELIMIT_STORAGE": "memory://",
            },
            "BILLING_REQUIRE_SHARED_STATE=true",
        ),
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
    app = create_app(SANDBOX_MODE)
    try:
        resp = app.test_client().post("/subscriptions/issue-billing", json=VALID_BODY)

        assert resp.status_code == 200
        assert resp.get_json()["billing_key"]["card_number"] == "424242******4242"
        assert "SANDBOX MODE" in caplog.text
        assert "NOT authenticated" in caplog.text
    finally:
        shared(app).sandbox.shutdown()


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


def test_a_shared_store_is_accepted_when_required():
    env = {**REAL, "BILLING_REQUIRE_SHARED_STATE": "true", "BILLING_STATE_URL": "redis://r:6379/0"}

    assert Settings.from_env(env).state_url == "redis://r:6379/0"


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080", "http://localhost:8080/v1", "https://[::1]:8443"]
)
def test_a_loopback_imports_is_never_reached_through_a_proxy(url):
    # http:// to loopback is allowed because the credentials stay on the machine: a proxy
    # would carry them elsewhere in clear text.
    proxies = {"http_proxy": "http://proxy:3128", "HTTPS_PROXY": "http://proxy:3128"}

    assert Settings.from_env({**REAL, "IAMPORT_API_URL": url, **proxies}).iamport_proxy_url is None


def test_a_loopback_imports_is_called_directly_though_a_proxy_is_set(sandbox):
    # The proxy named here would refuse the connection: the issuance goes to the sandbox.
    env = service_env(sandbox.url, http_proxy="http://127.0.0.1:9")
    client = create_app(env).test_client()

    resp = client.post(
        "/subscriptions/issue-billing",
        json=VALID_BODY,
        headers={"Authorization": f"Bearer {CALLER_KEY}"},
    )

    assert resp.status_code == 200
    assert sandbox.count("POST /subscribe/customers/{customer_uid}") == 1


def test_the_bundled_sandbox_is_never_reached_through_a_proxy():
    settings = Settings.from_env({**SANDBOX_MODE, "HTTP_PROXY": "http://proxy:3128"})
    assert settings.iamport_proxy_url is None


def test_a_malformed_proxy_refuses_to_start_without_echoing_it():
    with pytest.raises(ConfigError) as refused:
        Settings.from_env({**REAL, "HTTPS_PROXY": "socks5://user:hunter2@proxy:1080"})

    assert "hunter2" not in str(refused.value)


def test_a_ca_bundle_for_imports_certificate_comes_from_requests_variable():
    assert Settings.from_env(REAL).iamport_ca_bundle is None
    env = {**REAL, "REQUESTS_CA_BUNDLE": "/etc/corp-ca.pem", "CURL_CA_BUNDLE": "/other.pem"}
    assert Settings.from_env(env).iamport_ca_bundle == "/etc/corp-ca.pem"


def test_sandbox_mode_uses_the_bundled_sandboxs_default_credentials():
    # config cannot import the sandbox (the sandbox is the factory's business alone), so it
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
            "BILLING_CARD_FINGERPRINT_KEY": FINGERPRINT_KEY,
        }
    )

    assert settings.state_url == "redis://r:6379/1"
    assert any("deprecated" in w for w in settings.warnings)


def test_the_event_retention_defaults_to_30_days_and_must_be_seconds():
    assert Settings.from_env(REAL).event_retention == 2_592_000
    assert Settings.from_env({**REAL, "BILLING_EVENT_RETENTION": "3600"}).event_retention == 3600

    with pytest.raises(ConfigError, match="BILLING_EVENT_RETENTION"):
        Settings.from_env({**REAL, "BILLING_EVENT_RETENTION": "forever"})


# --- fail closed (issue 16) -------------------------------------------------------------------


def test_without_credentials_or_sandbox_flag_the_service_refuses_to_start():
    # A Secret left empty must not turn production into a fake processor, whatever else is set.
    env = {
        "IAMPORT_API_KEY": "",
        "IAMPORT_API_SECRET": " ",
        "BILLING_API_KEYS": "shop:s3cret",
        "BILLING_EVENT_URLS": "https://orders.internal/billing-events",
        "BILLING_EVENT_SECRET": "whsec_" + "A" * 32,
    }
    with pytest.raises(ConfigError) as refused:
        create_app(env)

    message = str(refused.value)
    assert "IAMPORT_API_KEY" in message and "BILLING_SANDBOX=true" in message


@pytest.mark.parametrize("value", ["true", "TRUE", "True", "1", " true "])
def test_sandbox_mode_is_asked_for_with_true_or_1(value):
    assert Settings.from_env({"BILLING_SANDBOX": value}).sandbox is True


@pytest.mark.parametrize("value", ["false", "0", ""])
def test_sandbox_mode_off_needs_credentials(value):
    assert Settings.from_env({**REAL, "BILLING_SANDBOX": value}).sandbox is False
    with pytest.raises(ConfigError, match="BILLING_SANDBOX=true"):
        Settings.from_env({"BILLING_SANDBOX": value})


def test_an_unclear_sandbox_flag_refuses_to_start():
    with pytest.raises(ConfigError, match="BILLING_SANDBOX must be"):
        Settings.from_env({**SANDBOX_MODE, "BILLING_SANDBOX": "yes"})


def test_sandbox_mode_and_credentials_together_refuse_to_start():
    with pytest.raises(ConfigError, match="one or the other|both set"):
        Settings.from_env({**REAL, **SANDBOX_MODE})
    with pytest.raises(ConfigError, match="both set"):
        Settings.from_env({**SANDBOX_MODE, "IAMPORT_API_KEY": "key"})


@pytest.mark.parametrize(
    "url",
    ["http://api.iamport.kr", "http://10.0.0.7:9000", "http://sandbox:9000", "http://[::2]:80"],
)
def test_real_credentials_never_travel_in_clear_text(url):
    with pytest.raises(ConfigError, match="https://"):
        Settings.from_env({**REAL, "IAMPORT_API_URL": url})


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9000",
        "http://127.3.2.1:9000",
        "http://[::1]:9000",
        "http://localhost:9000",
        "https://api.iamport.kr",
        "https://iamport.internal:8443",
    ],
)
def test_http_is_accepted_for_a_loopback_host(url):
    assert Settings.from_env({**REAL, "IAMPORT_API_URL": url}).iamport_api_url == url


def test_the_sandbox_may_be_reached_over_http_anywhere():
    # compose's sandbox container.
    settings = Settings.from_env({**SANDBOX_MODE, "IAMPORT_API_URL": "http://sandbox:9000"})
    assert settings.iamport_api_url == "http://sandbox:9000"


def test_real_credentials_need_a_fingerprint_key_from_the_environment():
    env = {k: v for k, v in REAL.items() if k != "BILLING_CARD_FINGERPRINT_KEY"}
    with pytest.raises(ConfigError) as refused:
        Settings.from_env(env)

    message = str(refused.value)
    assert "BILLING_CARD_FINGERPRINT_KEY" in message
    assert "card-fingerprint.key" in message  # how to keep an existing instance's key


@pytest.mark.parametrize(
    "name", ["BILLING_CARD_FINGERPRINT_KEY", "BILLING_CARD_FINGERPRINT_KEY_PREVIOUS"]
)
def test_a_short_fingerprint_key_refuses_to_start(name):
    with pytest.raises(ConfigError, match=f"{name} must be at least 32 characters"):
        Settings.from_env({**REAL, name: "x" * 31})


def test_a_previous_fingerprint_key_alone_refuses_to_start():
    with pytest.raises(ConfigError, match="without BILLING_CARD_FINGERPRINT_KEY"):
        Settings.from_env({**SANDBOX_MODE, "BILLING_CARD_FINGERPRINT_KEY_PREVIOUS": "p" * 32})


def test_with_real_credentials_no_key_is_written_to_disk(tmp_path, sandbox):
    env = service_env(sandbox.url, BILLING_DATA_DIR=str(tmp_path))
    client = create_app(env).test_client()
    resp = client.post(
        "/subscriptions/issue-billing",
        json=VALID_BODY,
        headers={"Authorization": f"Bearer {CALLER_KEY}"},
    )

    assert resp.status_code == 200
    assert not (tmp_path / "card-fingerprint.key").exists()
    assert FINGERPRINT_KEY not in b"".join(p.read_bytes() for p in tmp_path.iterdir()).decode(
        "latin-1"
    )


def test_the_generated_key_file_is_a_sandbox_convenience(tmp_path):
    app = create_app({**SANDBOX_MODE, "BILLING_DATA_DIR": str(tmp_path)})
    try:
        assert (tmp_path / "card-fingerprint.key").exists()
    finally:
        shared(app).sandbox.shutdown()


def test_the_pending_recheck_delay_can_be_set():
    settings = Settings.from_env({**REAL, "BILLING_PENDING_RECHECK_SECONDS": "90"})

    assert settings.pending_recheck_seconds == 90.0


def test_the_allow_lists_take_addresses_and_cidr_ranges():
    settings = Settings.from_env(
        {
            **REAL,
            "BILLING_WEBHOOK_ALLOWED_IPS": "52.78.100.19, 52.78.48.0/24",
            "BILLING_TRUSTED_PROXIES": "10.0.0.0/8,::1",
        }
    )
    assert settings.webhook_allowed_ips == {
        ipaddress.ip_network("52.78.100.19/32"),
        ipaddress.ip_network("52.78.48.0/24"),
    }
    assert ipaddress.ip_network("10.0.0.0/8") in settings.trusted_proxies
    with pytest.raises(ConfigError, match="BILLING_TRUSTED_PROXIES"):
        Settings.from_env({**REAL, "BILLING_TRUSTED_PROXIES": "10.0.0.0/33"})
