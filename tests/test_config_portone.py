"""BILLING_PROVIDER and PortOne V2's settings, checked before the service starts."""

from __future__ import annotations

import pytest

from billing_service.config import ConfigError, Settings
from billing_service.config.portone import (
    DEFAULT_PORTONE_API_URL,
    SANDBOX_PORTONE_SECRET,
    SANDBOX_PORTONE_STORE_ID,
)

from .support import FINGERPRINT_KEY

V2 = {
    "BILLING_PROVIDER": "portone_v2",
    "PORTONE_API_SECRET": "v2-secret",
    "PORTONE_STORE_ID": "store-1234",
    "BILLING_API_KEYS": "shop:s3cret",
    "BILLING_CARD_FINGERPRINT_KEY": FINGERPRINT_KEY,
}
V2_SANDBOX = {"BILLING_PROVIDER": "portone_v2", "BILLING_SANDBOX": "true"}


def test_the_default_provider_is_iamport_v1():
    settings = Settings.from_env({"BILLING_SANDBOX": "true"})

    assert settings.provider == "iamport_v1"
    assert settings.portone is None


def test_v2_reads_its_secret_store_and_policy_timeouts():
    settings = Settings.from_env({**V2, "PORTONE_CHANNEL_KEY": "channel-key-1"})

    assert settings.provider == "portone_v2"
    portone = settings.portone
    assert portone is not None
    assert portone.api_url == DEFAULT_PORTONE_API_URL
    assert (portone.api_secret, portone.store_id) == ("v2-secret", "store-1234")
    assert portone.channel_key == "channel-key-1"
    # PortOne's timeout policy: 60 s reads where money moves.
    assert (portone.connect_timeout, portone.read_timeout) == (3.0, 60.0)
    assert "v2-secret" not in repr(settings)


def test_v2_sandbox_mode_uses_the_bundled_sandboxs_secret_and_store():
    settings = Settings.from_env(V2_SANDBOX)

    assert settings.portone is not None
    assert settings.portone.api_url is None  # the bundled V2 sandbox is started
    assert settings.portone.api_secret == SANDBOX_PORTONE_SECRET
    assert settings.portone.store_id == SANDBOX_PORTONE_STORE_ID


def test_the_longest_v2_request_follows_portones_timeouts():
    settings = Settings.from_env(V2)
    # Four lookups (3 + 10 s) and one call that moves money (3 + 60 s), and 5 s to spare.
    assert settings.longest_request == 4 * 13 + 63 + 5

    slower = Settings.from_env({**V2, "PORTONE_READ_TIMEOUT": "90"})
    assert slower.longest_request == 4 * 13 + 93 + 5


def test_a_read_timeout_under_10_s_bounds_the_lookups_too():
    # What the lease and graceful_timeout count on is what the client is given.
    settings = Settings.from_env({**V2, "PORTONE_READ_TIMEOUT": "2"})

    assert settings.portone is not None and settings.portone.lookup_timeout == 2.0
    assert settings.longest_request == 5 * (3 + 2) + 5  # four lookups and a charge


def test_iamports_timeouts_url_and_channel_are_ignored_under_v2_with_a_warning():
    settings = Settings.from_env(
        {**V2, "IAMPORT_READ_TIMEOUT": "5", "IAMPORT_API_URL": "https://api.iamport.kr"}
    )

    assert any("IAMPORT_READ_TIMEOUT is ignored" in w for w in settings.warnings)
    assert any("IAMPORT_API_URL is ignored" in w for w in settings.warnings)
    assert settings.portone is not None and settings.portone.read_timeout == 60.0


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({**V2, "BILLING_PROVIDER": "portone_v3"}, "BILLING_PROVIDER must be"),
        ({**V2, "IAMPORT_API_KEY": "key"}, "IAMPORT_API_KEY set with BILLING_PROVIDER=portone_v2"),
        (
            {"IAMPORT_API_KEY": "k", "IAMPORT_API_SECRET": "s", "PORTONE_API_SECRET": "x"},
            "PORTONE_API_SECRET set with BILLING_PROVIDER=iamport_v1",
        ),
        ({"BILLING_SANDBOX": "true", "PORTONE_STORE_ID": "s"}, "BILLING_PROVIDER=iamport_v1"),
        ({k: v for k, v in V2.items() if k != "PORTONE_API_SECRET"}, "Set PORTONE_API_SECRET"),
        ({k: v for k, v in V2.items() if k != "PORTONE_STORE_ID"}, "PORTONE_STORE_ID is required"),
        ({**V2_SANDBOX, "PORTONE_API_SECRET": "x"}, "both set"),
        ({**V2, "PORTONE_API_URL": "http://portone.example"}, "PORTONE_API_URL must be https://"),
        ({**V2, "PORTONE_READ_TIMEOUT": "soon"}, "PORTONE_READ_TIMEOUT"),
        ({k: v for k, v in V2.items() if k != "BILLING_API_KEYS"}, "BILLING_API_KEYS"),
        (
            {k: v for k, v in V2.items() if k != "BILLING_CARD_FINGERPRINT_KEY"},
            "BILLING_CARD_FINGERPRINT_KEY",
        ),
    ],
)
def test_what_cannot_run_on_v2_stops_the_service(env, message):
    with pytest.raises(ConfigError, match=message):
        Settings.from_env(env)


def test_v2_sandbox_mode_may_name_a_sandbox_over_http():
    settings = Settings.from_env({**V2_SANDBOX, "PORTONE_API_URL": "http://sandbox:9000"})

    assert settings.portone is not None
    assert settings.portone.api_url == "http://sandbox:9000"
