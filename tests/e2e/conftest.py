"""What the end-to-end tests share: a subscriber of the live service's signed events."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ..support import free_port
from .test_subscriptions import Subscriber


@pytest.fixture
def subscriber() -> Iterator[Subscriber]:
    sub = Subscriber(free_port())
    sub.start()
    yield sub
    sub.stop()
