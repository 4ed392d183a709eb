"""Resolving I'mport's name counts inside a call's deadline: a resolver that hangs cannot hold
a call (and a gunicorn thread) past it. The resolver is slowed down, not the HTTP client."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import pytest

from billing_service.gateway import GatewayTimeout, IamportClient
from billing_service.sandbox import DEFAULT_API_KEY, DEFAULT_API_SECRET

from ..support import TOKEN_ROUTE

SLOW_NAME = "iamport.slow-resolver.test"
# A deadline of 0.7 s.
FAST = {"connect_timeout": 0.2, "read_timeout": 0.5}


class SlowResolver:
    """socket.getaddrinfo, but SLOW_NAME resolves to the loopback after ``delay`` s (or when
    released, at the end of the test)."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.released = threading.Event()
        self._getaddrinfo = socket.getaddrinfo

    def __call__(self, host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == SLOW_NAME:
            self.released.wait(self.delay)
            host = "127.0.0.1"
        return self._getaddrinfo(host, *args, **kwargs)


@pytest.fixture
def resolver(monkeypatch):
    slow = SlowResolver(delay=5.0)
    monkeypatch.setattr(socket, "getaddrinfo", slow)
    yield slow
    slow.released.set()


def client_for(sandbox, **kwargs: Any) -> IamportClient:
    port = sandbox.url.rsplit(":", 1)[1]
    url = f"http://{SLOW_NAME}:{port}"
    return IamportClient(url, DEFAULT_API_KEY, DEFAULT_API_SECRET, **FAST, **kwargs)


def test_a_resolver_slower_than_the_deadline_ends_the_call_at_the_deadline(sandbox, resolver):
    client = client_for(sandbox)

    started = time.monotonic()
    with pytest.raises(GatewayTimeout) as info:
        client.check_ready()
    elapsed = time.monotonic() - started

    assert info.value.request_sent is False  # nothing reached I'mport
    assert 0.6 <= elapsed < 1.5
    assert sandbox.count(TOKEN_ROUTE) == 0


def test_a_resolver_within_the_deadline_lets_the_call_through(sandbox, resolver):
    resolver.delay = 0.2
    client = client_for(sandbox)

    client.check_ready()

    assert sandbox.count(TOKEN_ROUTE) == 1
