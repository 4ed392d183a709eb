"""What the event tests share: a subscriber of the service's signed events."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .test_delivery import Subscriber


@pytest.fixture
def subscriber() -> Iterator[Subscriber]:
    made = Subscriber()
    yield made
    made.close()
