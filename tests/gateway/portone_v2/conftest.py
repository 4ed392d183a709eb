"""The PortOne V2 sandbox the client's flow tests run against, reset for each test, and the
client over it (its directory kept in memory)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import urllib3

from billing_service.gateway import PortOneClient
from billing_service.sandbox import SandboxServer
from billing_service.sandbox.portone_v2 import (
    DEFAULT_API_SECRET,
    DEFAULT_CHANNEL_KEY,
    DEFAULT_STORE_ID,
    start_sandbox,
)

from .support import MemoryDirectory


@pytest.fixture(scope="module")
def v2_server() -> Iterator[SandboxServer]:
    with start_sandbox(hang_seconds=1.0) as server:
        yield server


@pytest.fixture
def v2(v2_server: SandboxServer) -> SandboxServer:
    response = urllib3.request("POST", f"{v2_server.url}/__sandbox__/reset", timeout=5)
    assert response.status == 200
    return v2_server


@pytest.fixture
def directory() -> MemoryDirectory:
    return MemoryDirectory()


@pytest.fixture
def client(v2, directory):
    return PortOneClient(
        v2.url,
        DEFAULT_API_SECRET,
        DEFAULT_STORE_ID,
        directory,
        channel_key=DEFAULT_CHANNEL_KEY,
        read_timeout=2.0,
        lookup_timeout=2.0,
    )
