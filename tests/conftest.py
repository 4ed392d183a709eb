"""Shared fixtures: the I'mport sandbox over loopback, the app wired to it, a live gunicorn."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from billing_service import create_app
from billing_service.sandbox import start_sandbox

from .support import CALLER_KEY, CannedServer, LiveService, Sandbox, service_env


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[Sandbox]:
    server = start_sandbox(hang_seconds=5.0)
    yield Sandbox(server.url)
    server.shutdown()


@pytest.fixture
def sandbox(sandbox_server: Sandbox) -> Sandbox:
    sandbox_server.admin("POST", "reset")
    return sandbox_server


@pytest.fixture
def app(sandbox: Sandbox):
    return create_app(service_env(sandbox.url))


@pytest.fixture
def client(app):
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {CALLER_KEY}"
    return client


@pytest.fixture
def live_service(sandbox: Sandbox) -> Iterator[LiveService]:
    service = LiveService(service_env(sandbox.url))
    yield service
    service.stop()


@pytest.fixture
def canned() -> Iterator[CannedServer]:
    """A stand-in for I'mport that answers each call with the next response it was given."""
    server = CannedServer()
    yield server
    server.close()
