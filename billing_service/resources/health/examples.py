"""The OpenAPI examples of the health endpoints."""

from __future__ import annotations

from typing import Any

HEALTHY_EXAMPLE = {"status": "ok"}

READY_EXAMPLE = {
    "status": "ready",
    "checks": {
        "iamport": {
            "status": "degraded",
            "message": "No I'mport access token: I'mport could not be reached.",
        },
        "state_store": {"status": "ok", "message": None},
        "event_consumer": {"status": "ok", "message": None},
    },
}

# What not_ready's generic example gets.
NOT_READY_EXAMPLES: dict[str, dict[str, Any]] = {
    "not_ready": {
        "message": "No I'mport access token: I'mport refused the service's API credentials."
    }
}
