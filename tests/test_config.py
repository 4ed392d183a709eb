"""Configuration from the environment, checked before the service starts."""

from __future__ import annotations

import pytest

from billing_service import create_app
from billing_service.config import DEFAULT_API_URL, ConfigError, Settings

from .support import VALID_BODY

REAL = {"IAMPORT_API_KEY": "key", "IAMPORT_API_SECRET": "secret", "BILLING_API_KEYS": "shop:s3cret"}


def test_real_credentials_use_imports_url_and_default_timeouts():
    settings = Settings.from_env(REAL)

    assert settings.sandbox is False
    assert settings.iamport_api_url == DEFAULT_API_URL
    assert (settings.connect_timeout, settings.read_timeout) == (3.0, 30.0)
    assert settings.callers == {"shop": "s3cret"}


def test_no_credentials_is_sandbox_mode():
    settings = Settings.from_env({})

    assert settings.sandbox is True
    assert settings.iamport_api_url is None
    assert settings.callers == {}


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
        ({**REAL, "BILLING_API_KEYS": "shop:a,shop:b"}, "twice"),
        ({**REAL, "IAMPORT_API_URL": "ftp://x"}, "http"),
        ({**REAL, "IAMPORT_READ_TIMEOUT": "soon"}, "IAMPORT_READ_TIMEOUT"),
        ({**REAL, "IAMPORT_CONNECT_TIMEOUT": "0"}, "IAMPORT_CONNECT_TIMEOUT"),
        ({**REAL, "IAMPORT_CONNECT_TIMEOUT": "nan"}, "IAMPORT_CONNECT_TIMEOUT"),
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

    assert settings.callers == {"shop": "k1", "ops": "k2"}
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
