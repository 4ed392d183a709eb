"""The OpenAPI examples of the event operations."""

from __future__ import annotations

EVENT_LIST_EXAMPLE = {"status": "success", "events": []}

REDELIVERED_EXAMPLE = {"status": "success", "redelivered": 1}
