"""Fixtures of the V2 sandbox tests: one real server for them all, reset before each test, and
PortOne's own SDK pointed at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import urllib3
from portone_server_sdk import PortOneClient

from billing_service.sandbox import SandboxServer
from billing_service.sandbox.portone_v2 import (
    DEFAULT_API_SECRET,
    DEFAULT_STORE_ID,
    start_sandbox,
)

from .helpers import close_sdk

# A short hang: the tests that hold an answer back (fault-hang-, the hang card) wait this long.
HANG_SECONDS = 1.5


@pytest.fixture(scope="session")
def v2_server() -> Iterator[SandboxServer]:
    with start_sandbox(hang_seconds=HANG_SECONDS) as server:
        yield server


@pytest.fixture
def v2(v2_server: SandboxServer) -> SandboxServer:
    """The module's V2 sandbox, freshly reset (no keys, payments, calls, clock offset)."""
    response = urllib3.request("POST", f"{v2_server.url}/__sandbox__/reset", timeout=5)
    assert response.status == 200
    return v2_server


@pytest.fixture(scope="session")
def v2_client(v2_server: SandboxServer) -> Iterator[PortOneClient]:
    # One for all: the SDK builds two httpx clients (and their TLS contexts) per API group.
    sdk = PortOneClient(
        secret=DEFAULT_API_SECRET, base_url=v2_server.url, store_id=DEFAULT_STORE_ID
    )
    yield sdk
    close_sdk(sdk)


@pytest.fixture
def client(v2: SandboxServer, v2_client: PortOneClient) -> PortOneClient:
    """PortOne's SDK on the freshly reset sandbox, with the sandbox's secret and store."""
    return v2_client
