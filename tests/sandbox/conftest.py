"""Fixtures for the sandbox tests: one real server per module, reset before each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from billing_service.sandbox import SandboxServer, start_sandbox


@pytest.fixture(scope="module")
def sandbox_server() -> Iterator[SandboxServer]:
    with start_sandbox() as server:
        yield server


@pytest.fixture
def sandbox(sandbox_server: SandboxServer) -> SandboxServer:
    """The module's sandbox, freshly reset (no tokens, customers, calls, clock offset)."""
    response = requests.post(f"{sandbox_server.url}/__sandbox__/reset", timeout=5)
    response.raise_for_status()
    return sandbox_server


@pytest.fixture
def http() -> Iterator[requests.Session]:
    """A keep-alive session, closed after the test (unclosed sockets would warn)."""
    with requests.Session() as session:
        yield session
