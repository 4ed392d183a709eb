"""Shared fixtures: the sandboxes (I'mport V1 and PortOne V2) over loopback, the app wired to the
provider under test, a live gunicorn."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from billing_service import create_app
from billing_service.sandbox import portone_v2, start_sandbox

from .support import CALLER_KEY, PROVIDERS, V1, V2, CannedServer, LiveService, Sandbox, poll


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "both_providers: run the tests that use the `provider` fixture under I'mport V1 and "
        "PortOne V2 (BILLING_PROVIDER), each against its sandbox",
    )
    config.addinivalue_line(
        "markers",
        "provider_neutral: in a both_providers module, a test of what the service refuses "
        "before any provider is called: run once (I'mport V1), to keep the suite's time",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    marked = metafunc.definition.get_closest_marker
    if "provider" in metafunc.fixturenames and marked("both_providers"):
        if not marked("provider_neutral"):
            metafunc.parametrize("provider", PROVIDERS, indirect=True)


@pytest.fixture
def provider(request: pytest.FixtureRequest) -> str:
    """The provider under test: I'mport V1 unless the module runs under both."""
    return getattr(request, "param", V1)


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[Sandbox]:
    server = start_sandbox(hang_seconds=5.0)
    yield Sandbox(server.url)
    server.shutdown()


@pytest.fixture(scope="session")
def v2_sandbox_server() -> Iterator[Sandbox]:
    server = portone_v2.start_sandbox(hang_seconds=5.0)
    yield Sandbox(server.url, V2)
    server.shutdown()


@pytest.fixture
def sandbox(request: pytest.FixtureRequest, provider: str) -> Sandbox:
    """The provider's sandbox, reset (started once per session, the V2 one when first asked)."""
    server: Sandbox = request.getfixturevalue(
        "v2_sandbox_server" if provider == V2 else "sandbox_server"
    )
    if provider == V2:
        # The V2 fake holds a hung answer before the call is logged (so that a retry under the
        # same Idempotency-Key finds it outstanding): an earlier test's hang would be logged
        # after this reset, as one of this test's calls.
        assert poll(lambda: not any(server.admin("GET", "calls")["in_flight"].values()), 15)
    server.admin("POST", "reset")
    return server


@pytest.fixture
def app(sandbox: Sandbox):
    return create_app(sandbox.env())


@pytest.fixture
def client(app):
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {CALLER_KEY}"
    return client


@pytest.fixture
def live_service(sandbox: Sandbox) -> Iterator[LiveService]:
    service = LiveService(sandbox.env())
    yield service
    service.stop()


@pytest.fixture
def canned() -> Iterator[CannedServer]:
    """A stand-in for I'mport that answers each call with the next response it was given."""
    server = CannedServer()
    yield server
    server.close()
