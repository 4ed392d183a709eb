"""The API's resources, one package each (``routes.py`` + ``schemas.py`` + ``examples.py``, the
OpenAPI examples).

May import ``api``, ``security``, ``observability``, ``state``, ``config`` and ``gateway``;
nothing imports it but the factory (``app``).
"""

from __future__ import annotations

from typing import Any

from .billing_keys import routes as billing_keys
from .events import routes as events
from .health import routes as health
from .payments import routes as payments
from .schedules import routes as schedules
from .webhooks import routes as webhooks

# Registration order: the order of the tags in the OpenAPI document.
MODULES = (health, billing_keys, payments, schedules, webhooks, events)


def register_blueprints(api: Any) -> None:
    """Register every resource's blueprint on ``api``."""
    for module in MODULES:
        api.register_blueprint(module.blp)
