"""The API's resources, one package each (``routes.py`` + ``schemas.py``).

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

# The endpoints the card-testing limits apply to.
ISSUE_ENDPOINT = f"{billing_keys.blp.name}.{billing_keys.IssueBilling.__name__}"
CHARGE_ENDPOINT = f"{payments.blp.name}.{payments.Payments.__name__}"
# The POSTs that move money (or issue a key): they honour Idempotency-Key.
MONEY_ENDPOINTS = (
    ISSUE_ENDPOINT,
    CHARGE_ENDPOINT,
    f"{payments.blp.name}.{payments.PaymentCancellation.__name__}",
    f"{schedules.blp.name}.{schedules.Schedules.__name__}",
)


def register_blueprints(api: Any) -> None:
    """Register every resource's blueprint on ``api``."""
    for module in MODULES:
        api.register_blueprint(module.blp)
